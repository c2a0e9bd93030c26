"""Test helpers: stand-in backends wrapped as the two built-in tool plugins."""

from __future__ import annotations

from tools.plugin import ToolPlugin
from tools.plugins.knowledge_graph import KnowledgeGraphTool
from tools.plugins.search import SearchTool


def plugins(backends: dict, kg_parse=None) -> dict[str, ToolPlugin]:  # type: ignore[no-untyped-def]
    """``{"search": backend, "kg": backend}`` as plugins; ``kg_parse`` plans the graph calls."""
    out: dict[str, ToolPlugin] = {}
    for name, backend in backends.items():
        if name == "search":
            out[name] = SearchTool(backend)
        elif name == "kg":
            out[name] = KnowledgeGraphTool(backend, kg_parse or (lambda text: None))
        else:
            raise ValueError(name)
    return out
