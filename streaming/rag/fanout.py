"""Speculative fan-out: complete an unfinished or unstable entity at the end of a partial.

"What is the capital of Austr" ends in a word that is not a name yet but begins several
("Australia", "Austria"); "... of Austria" whose last word the ASR has not settled sounds like
others. ``Completer`` proposes the names the speaker may be saying, from the knowledge base's
vocabulary (knowledge-graph entity names and document titles): prefix matches for a word being
said, close spellings (rapidfuzz) for an unstable one. ``fanout_texts`` rewrites the partial
with each, for the lookup to fire them in parallel (under its call budget); at end of turn the
reflector keeps the one the final confirms.

Pure and memoized: no model, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

from rapidfuzz import fuzz, process

from tools.language.text import FILLERS, STOPWORDS
from tools.language.understood import Understood
from tools.plugin import Plan, ToolSpec

_PUNCT = ",.?!;:-'\"()"
_QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$|,?\s+(inc|ltd|llc|plc|corp|co)\.?$", re.I)
MIN_PREFIX = 3  # "aus" may be anything; fewer letters are not worth a call
FUZZY_CUTOFF = 80.0  # rapidfuzz ratio: "austria" / "australia" 87.5, "austria" / "russia" 61.5


def display_name(name: str) -> str:
    """A name as it is said: "Amazon (company)" -> "Amazon", "Tesla, Inc." -> "Tesla"."""
    return _QUALIFIER.sub("", name).strip()


class Completer:
    """Names the end of a partial may be the beginning (or a misheard form) of: a word being
    said ("austr"), a word that begins longer names ("eiffel"), an unstable name ("austria")."""

    def __init__(self, names: Iterable[str], limit: int = 3) -> None:
        by_norm: dict[str, str] = {}
        for name in names:
            shown = display_name(name)
            norm = " ".join(shown.lower().split())
            if len(norm) >= MIN_PREFIX and norm not in by_norm:
                by_norm[norm] = shown
        self.limit = limit
        self._names = sorted(by_norm.items())  # (norm, display), for prefix scans
        self._whole = {norm for norm in by_norm if " " not in norm}  # one-word names
        self._first = [norm.split()[0] for norm, _ in self._names]  # one word, for fuzzy
        self.complete = lru_cache(maxsize=4096)(self._complete)

    def __len__(self) -> int:
        return len(self._names)

    def _complete(self, words: tuple[str, ...], unstable: bool) -> tuple[tuple[int, str], ...]:
        """(words replaced, name) pairs for the last ``words`` (lowercase, at most two), best
        first: prefix completions of a word being said, then close names of an unstable one."""
        last = words[-1]
        if len(last) < MIN_PREFIX or last.isdigit() or last in STOPWORDS or last in FILLERS:
            return ()
        found: list[tuple[tuple, int, str]] = []
        seen: set[str] = set()
        for n in range(min(2, len(words)), 0, -1):  # "new yo" -> "New York" before "yo..."
            phrase = " ".join(words[-n:])
            if n == 1 and last in self._whole:
                break  # a name already ("austria"): only an unstable one has alternatives
            for norm, shown in self._names:
                if norm.startswith(phrase) and norm != phrase and shown not in seen:
                    rank = (0, -n, len(norm.split()), len(norm), norm)
                    found.append((rank, n, shown))
                    seen.add(shown)
        if unstable:  # the ASR may still change the word: names that sound close
            for first, score, i in process.extract(
                last, self._first, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=None
            ):
                norm, shown = self._names[i]
                if first != last and shown not in seen and len(norm.split()) == 1:
                    found.append(((1, -score, norm), 1, shown))
                    seen.add(shown)
        found.sort(key=lambda f: f[0])
        return tuple((n, shown) for _, n, shown in found[: self.limit])


def fanout_texts(
    completer: Completer | None, text: str, unstable: bool = False, limit: int = 2
) -> list[tuple[str, str]]:
    """(rewritten text, completed name) for each candidate name of the partial's last words
    (none without a completer)."""
    if completer is None:
        return []
    toks = text.split()
    words = tuple(t.lower().strip(_PUNCT) for t in toks[-2:])
    if not words or not words[-1]:
        return []
    out = []
    for n, name in completer.complete(words, unstable)[:limit]:
        out.append((" ".join([*toks[:-n], name]), name))
    return out


def fanout_plans(
    candidates: list[tuple[str, str]],
    question: Understood,
    plans: Callable[[Understood], list[Plan]],
    specs: Mapping[str, ToolSpec],
) -> list[tuple[Plan, str]]:
    """(plan, completed name) for each candidate text, fan-out tools only: every exact lookup
    (fast) before any ranked search; candidates keep their order within each."""
    found = [
        (plan, name)
        for text, name in candidates
        for plan in plans(question.rewritten(text))
        if plan.tool in specs and specs[plan.tool].fanout
    ]
    return sorted(found, key=lambda p: specs[p[0].tool].match != "exact")


def is_unstable(text: str, tail: str) -> bool:
    """True when the partial's last word is in the ASR's unstable tail."""
    last, tail_words = text.split()[-1:], tail.split()
    return bool(last and tail_words) and (
        last[0].lower().strip(_PUNCT) == tail_words[-1].lower().strip(_PUNCT)
    )
