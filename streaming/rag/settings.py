"""Settings of the tools and their speculative calls.

Each part's defaults are defined here once: ``streaming.server.config.Config`` (every flag and
``STREAMRAG_*`` variable) is made of these parts, and constructors take their defaults from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ToolSettings:
    """The tools and their speculative calls: corpus, backends, deadlines, fan-out, budget, cache."""

    knowledge: str = field(
        default="demo",
        metadata={
            "help": "knowledge packs searched and put in the graph, comma-separated: demo (the "
            "bundled KB), wikipedia (10k article summaries), factbook (country facts)"
        },
    )
    corpus: str = field(
        default="", metadata={"help": "folder or jsonl of documents (default: bundled)"}
    )
    top_k: int = field(default=3, metadata={"help": "documents passed to the answer"})
    tool_deadline_ms: int = field(default=4000, metadata={"help": "per tool call deadline"})
    hedge_after_ms: int = field(
        default=1000,
        metadata={"help": "a call the answer waits for, out this long, is sent again (0: never)"},
    )
    search_url: str = field(
        default="",
        metadata={"help": "search API base URL; empty: start ours in-process; 'local': no HTTP"},
    )
    search_api: str = field(default="streamrag", metadata={"help": "streamrag | searxng"})
    search_latency: str = field(
        default="lognormal:median=0.8,p90=2.0",
        metadata={
            "help": "latency profile of the in-process search service (none | fixed:S | lognormal:median=S,p90=S)"
        },
    )
    evidence_dir: str = field(
        default="",
        metadata={
            "help": "folder of per-question evidence (<id>.jsonl passages from `audiocrag build`) "
            "that a session selects with the start option `evidence` (CRAG Task 1)"
        },
    )
    kg: bool = field(default=True, metadata={"help": "use the knowledge-graph tool"})
    kg_latency: str = field(
        default="lognormal:median=0.3,p90=0.8",
        metadata={"help": "latency profile of the knowledge graph"},
    )
    mcp_servers: str = field(
        default="",
        metadata={
            "help": "MCP servers whose tools this assistant may call, separated by ';': an "
            "http(s) URL (streamable HTTP) or a command that serves stdio"
        },
    )
    max_parallel_calls: int = field(
        default=4, metadata={"help": "speculative calls in flight per session"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the simulated tool latencies"})
    fanout: int = field(
        default=2,
        metadata={"help": "names an unfinished last word is completed to and fired (0 = off)"},
    )
    call_budget: int = field(
        default=8, metadata={"help": "speculative tool calls per turn (0 = no bound)"}
    )
    result_cache_ttl_s: float = field(
        default=300.0, metadata={"help": "seconds a tool result is shared across sessions"}
    )
    result_cache_size: int = field(
        default=1024, metadata={"help": "tool results shared across sessions (0 = off)"}
    )
    strategy: str = field(
        default="triggered", metadata={"help": "final | fixed-interval | triggered"}
    )
