"""The knowledge-graph parses of one session's texts: memoized (LRU), computed off the loop.

The parse is CPU work (difflib over the graph's names) that must not stall the event loop every
session shares; a partial's parse is made by a worker task before the partial is applied, so the
predictor only ever reads a parse that is already known (``known``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from concurrent.futures import Executor

from streaming.rag.predictor import KgKey, KgParser
from tools.offload import off_loop

log = logging.getLogger(__name__)


class ParseMemo:
    def __init__(self, parse: KgParser, size: int = 256, executor: Executor | None = None) -> None:
        self.parse, self.size, self.executor = parse, size, executor
        self._parsed: OrderedDict[str, KgKey | None] = OrderedDict()  # corrected text -> parse

    def __contains__(self, text: str) -> bool:
        return text in self._parsed

    def _remember(self, text: str, parsed: KgKey | None) -> KgKey | None:
        self._parsed[text] = parsed
        self._parsed.move_to_end(text)
        while len(self._parsed) > self.size:
            self._parsed.popitem(last=False)
        return parsed

    async def off_loop(self, text: str) -> KgKey | None:
        """The parse of ``text``, made in the executor unless it is memoized."""
        if text in self._parsed:
            return self._parsed[text]
        try:
            parsed = await off_loop(self.parse, text, executor=self.executor)
        except Exception:  # a broken parser costs the KG call, never the session
            log.exception("kg parse failed")
            parsed = None
        return self._remember(text, parsed)

    def known(self, text: str) -> KgKey | None:
        """The memoized parse (made inline only if it is missing)."""
        if text in self._parsed:
            return self._parsed[text]
        return self._remember(text, self.parse(text))
