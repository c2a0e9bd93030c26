"""The assistant's tools: one line per tool provider (``tools.plugin.ToolProvider``).

To add a tool, write one module under ``tools/plugins/`` (a ``ToolSpec``, a ``ToolPlugin``
and a provider that builds it for a session) and add its provider here. Nothing in the
pipeline names a tool: the predictor, lookup, reflector, answer and timeline read the spec.
"""

from __future__ import annotations

from tools.plugin import ToolProvider
from tools.plugins.calculator import CalculatorProvider
from tools.plugins.knowledge_graph import KnowledgeGraphProvider
from tools.plugins.mcp import McpProvider
from tools.plugins.search import SearchProvider

PROVIDERS: tuple[type[ToolProvider], ...] = (
    KnowledgeGraphProvider,
    SearchProvider,
    CalculatorProvider,
    McpProvider,
)
