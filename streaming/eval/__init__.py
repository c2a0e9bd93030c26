"""Evaluation: spoken CRAG question sets, their replay through the server, scoring, reports."""
