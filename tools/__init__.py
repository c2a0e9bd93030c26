"""The assistant's tools, what they read and return, and the infrastructure they run on.

- ``plugin``, ``registry``, ``plugins/``: a tool's declaration, the list of tools, the plugins;
- ``corpus``, ``result``: the knowledge base a tool reads; the ``SearchResult`` it returns;
- ``corpora/``: knowledge packs (offline data packages) joined into the documents;
- ``search/``: document search backends (BM25, the HTTP service and its client, PostgreSQL,
  a question's own pages);
- ``kg/``: the knowledge graph (facts, reasoning, the async tool);
- ``language/``: text analysis below every tool (imports nothing else of ours);
- ``runtime/``: not tools: the CPU thread pool, latency profiles, the shared token;
- ``data/``: the bundled knowledge base, the demo questions, the word lists with their sources.
"""
