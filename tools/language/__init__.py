"""Language helpers every tool and stage shares (pure, no model, no I/O): tokens and stems,
question analysis, spoken self-corrections, whether a transcript is a finished question, and
``understand``: a transcript turned once into the question meant."""
