"""Settings of the answer.

Each part's defaults are defined here once: ``streaming.server.config.Config`` (every flag and
``STREAMRAG_*`` variable) is made of these parts, and constructors take their defaults from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AnswerSettings:
    """The answer: the reader or LLM backend, its budget and confidence, the acknowledgement."""

    llm_backend: str = field(
        default="extractive",
        metadata={
            "help": "extractive | llama (SmolLM2 via llama.cpp) | openai (any compatible endpoint)"
        },
    )
    llm_model_path: str = field(
        default="",
        metadata={"help": "GGUF path, or smollm2 (default) | qwen-coder-0.5b (the qwen extra)"},
    )
    llm_threads: int = field(default=2, metadata={"help": "llama.cpp threads"})
    llm_prefill: bool = field(
        default=True,
        metadata={"help": "speculative prefill: the prompt prefix into the LLM's cache early"},
    )
    openai_base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible base URL"}
    )
    openai_model: str = field(default="default", metadata={"help": "model name for the endpoint"})
    openai_api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "env var holding the key"}
    )
    max_answer_tokens: int = field(default=48, metadata={"help": "LLM token budget per answer"})
    min_answer_confidence: float = field(  # chosen on the even-numbered demo questions
        default=0.55,
        metadata={"help": "below this answer-fit confidence the answer is I don't know"},
    )
    acknowledge: bool = field(
        default=False,
        metadata={"help": "say a short 'Let me check.' when the evidence is still out"},
    )
    acknowledge_after_ms: int = field(
        default=500,
        metadata={"help": "how long after the final transcript a tool may be out before it"},
    )
    acknowledge_text: str = field(
        default="Let me check.", metadata={"help": "the acknowledgement (synthesized once)"}
    )
    llm_timeout_ms: int = field(
        default=4000,
        metadata={"help": "OpenAI endpoint: longest wait for its first or next streamed chunk"},
    )
