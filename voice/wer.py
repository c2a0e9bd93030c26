"""Word error rate with light normalisation (case, punctuation, hyphens), plain or spoken."""

from __future__ import annotations

import re

from tools.language.text import NUMBER_WORDS

_WORD = re.compile(r"[a-z0-9']+")
_DIGITS = {w: str(i) for i, w in enumerate(NUMBER_WORDS)}


def normalize_words(text: str) -> list[str]:
    text = text.lower().replace("-", " ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    return _WORD.findall(text)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


def spoken_wer(reference: str, hypothesis: str) -> float:
    """WER after writing "&" as "and" and number words zero..twenty as digits on both sides, so
    "3-point" heard as "three-point" or "S&P" as "S and P" is not an error."""

    def spoken(text: str) -> str:
        text = re.sub(r"\s*&\s*", " and ", text.lower())
        return re.sub(r"[a-z]+", lambda m: _DIGITS.get(m.group(), m.group()), text)

    return word_error_rate(spoken(reference), spoken(hypothesis))
