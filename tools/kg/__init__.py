"""The knowledge graph: facts of the bundled knowledge base, reasoning over them, the async tool.

Imports go one way (``tests/test_layers.py`` checks that no tools module is in a cycle):

- ``names``: normalised names, aliases, cue sequences, fuzzy spelling and sound;
- ``values``: dates, numbers, query times; the attribute families and question words (data);
- ``facts``: ``FactGraph``, entities, aliases and facts in SQLite; the (entity, attribute) parse;
- ``base``: a question read against the graph (mentions, cues) and ``Reasoned``;
- ``arith``: ages, spans, differences, counts and sums;
- ``reason``: ``reason``: false premises, comparisons, arithmetic, two hops;
- ``graph``: ``KnowledgeGraph``, the fact graph with its reasoning key (``kg_key``);
- ``tool``: ``KgTool``, the graph as an async tool (off the loop, latency, deadline).
"""
