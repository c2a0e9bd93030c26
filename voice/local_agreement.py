"""LocalAgreement-2 (whisper_streaming): words two consecutive hypotheses agree on become stable."""

from __future__ import annotations

import re

_PUNCT = re.compile(r"[^\w']+")


def norm_word(word: str) -> str:
    return _PUNCT.sub("", word.lower())


class LocalAgreement:
    """Feed full hypotheses of a growing audio buffer; get ``(stable, tail)`` word lists.

    The stable prefix only grows: once two hypotheses in a row agree on a word, it is committed.
    """

    def __init__(self) -> None:
        self.committed: list[str] = []
        self._previous: list[str] = []

    def update(self, words: list[str]) -> tuple[list[str], list[str]]:
        n = len(self.committed)
        agreed = n
        while (
            agreed < len(words)
            and agreed < len(self._previous)
            and norm_word(words[agreed]) == norm_word(self._previous[agreed])
        ):
            agreed += 1
        self.committed += words[n:agreed]
        self._previous = words
        return list(self.committed), words[len(self.committed) :]

    def reset(self) -> None:
        self.committed, self._previous = [], []
