"""Document search: the backends behind the search tool (``tools/plugins/search.py``).

- ``bm25``: BM25 over the bundled knowledge base, in process (``LocalSearchTool``);
- ``web``: the same search as an HTTP service, and the client for it (or a SearxNG API);
- ``postgres``: PostgreSQL full-text search behind the service, for a large corpus;
- ``evidence``: a question's own pages as its corpus (CRAG Task 1).
"""
