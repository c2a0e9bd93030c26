"""Spoken self-corrections and query text: the question meant, and what a search is sent.

- ``apply_corrections``: "capital of Austria, no, Australia" -> "capital of Australia".
- ``make_query``: corrections applied, stopwords and fillers dropped, order kept.
- ``query_key``: an order-insensitive normal form (two queries with one key fetch the same).

Pure text functions: no model, no I/O.
"""

from __future__ import annotations

import difflib
import re

from tools.language.text import FILLERS, STOPWORDS, stem, tokens

# --- spoken self-corrections --------------------------------------------------------------
# "austria, no, australia" / "austria... I mean australia" / "Austria? Sorry, Australia." /
# "austria or rather australia" / "austria - no wait, scratch that - australia"
_STRONG = ("or rather", "scratch that", "make that", "i meant to say", "i mean to say", "i meant",
           "i mean", "let me rephrase that", "let me rephrase", "correction")  # fmt: skip
_WEAK = ("no", "nope", "nah", "sorry", "wait", "rather", "actually", "oops", "hold on", "my bad",
         "i'm sorry", "i am sorry", "not")  # fmt: skip
_TRAILING = frozenset({"sorry", "rather", "i mean", "mean", "bad"})  # "Australia, sorry."
_FILL = frozenset("um uh erm er ah oh hmm".split())
_PHRASES = sorted(((p.split(), p in _STRONG) for p in _STRONG + _WEAK), key=lambda x: -len(x[0]))
_QUESTION = frozenset(
    """what what's whats who who's whos whom whose when where where's which why
    how how's is are was were do does did can could will would should has have had tell name list
    give show find""".split()
)
_CONNECT = frozenset("of the and & de da del der la le van von y".split())
_PUNCT = ",.?!;:-'\"()"
_END = ".?!"
_REPEAT = re.compile(r"\b(\w+)(?:\s+\1\b)+", re.I)  # stutters: "the the"
_DASHES = re.compile(r"\s*(?:[\u2014\u2013]|--+|\s-\s)\s*|\s*\u2026\s*|\.\.\.+\s*")


def _core(tok: str) -> str:
    return tok.lower().strip(_PUNCT)


def _content(tok: str) -> bool:
    core = _core(tok)
    return bool(core) and core not in STOPWORDS and core not in FILLERS and core not in _FILL


def _markers(toks: list[str], i: int) -> tuple[int, int, bool, bool] | None:
    """The marker sequence starting at ``toks[i]``: (end, markers, strong, punctuated after)."""
    j, count, strong, last_punct = i, 0, False, False
    while j < len(toks):
        if not _core(toks[j]):  # a dash or an ellipsis between markers
            j, last_punct = j + 1, True
            continue
        if _core(toks[j]) in _FILL:
            j, last_punct = j + 1, toks[j][-1] in _PUNCT
            continue
        for words, is_strong in _PHRASES:
            got = [_core(t) for t in toks[j : j + len(words)]]
            inner = all(t[-1] not in _PUNCT for t in toks[j : j + len(words) - 1])
            if got == words and inner:
                if words == ["not"] and not (count and j > i):  # "not" only inside: "no, not"
                    break
                count, strong = count + 1, strong or is_strong
                j += len(words)
                last_punct = toks[j - 1][-1] in _PUNCT
                break
        else:
            break
        if not count:  # the "not" case above: no marker yet
            return None
    return (j, count, strong or count > 1, last_punct) if count else None


def _find_correction(toks: list[str]) -> tuple[int, int] | None:
    """(start, end) of the first self-correction marker sequence that really is one."""
    for i in range(1, len(toks)):
        if _core(toks[i]) not in {w for words, _ in _PHRASES for w in words[:1]} | _FILL:
            continue
        found = _markers(toks, i)
        if found is None:
            continue
        end, count, strong, punct_after = found
        prev = toks[i - 1]
        boundary = not _core(prev) or prev[-1] in ",;:" + _END or prev.endswith("...")
        sentence_end = bool(_core(prev)) and prev[-1] in _END and not prev.endswith("...")
        first = toks[i].strip(_PUNCT)
        if not boundary and not strong:
            continue  # "which country has no army", "who sang no woman no cry"
        if not sentence_end and first[:1].isupper() and first != "I":
            continue  # a title after a comma: "No Woman, No Cry", "Wait, Wait, Don't Tell Me"
        if first.lower() == "i" and end > i + 1 and toks[i + 1].strip(_PUNCT)[:1].isupper():
            continue  # "I Mean It", a title
        rest = toks[end:]
        if not rest:  # a partial cut after the marker: speculate on what came before
            if boundary or strong:
                return i, end
            continue
        head = _core(rest[0])
        if (
            not boundary
            and not punct_after
            and not (_content(rest[0]) or head in _QUESTION or head.isdigit())
        ):
            continue  # "who sang i mean it by the beatles"
        if (
            count == 1
            and _core(toks[i]) == "no"
            and not punct_after
            and ("no" in [_core(t) for t in toks[max(0, i - 3) : i]])
        ):
            continue  # "no woman, no cry": a parallel phrase, not a fix
        if not any(_content(t) for t in rest) and head not in _QUESTION:
            continue  # "... i mean it"
        return i, end
    return None


def _kind(tok: str) -> str | None:
    """Entity-like token type: "num" (digits), "cap" (a capitalized name), or None."""
    word = tok.strip(_PUNCT)
    if any(c.isdigit() for c in word):
        return "num"
    if word[:1].isupper() and word != "I" and _content(tok):
        return "cap"
    return None


def _runs(toks: list[str], kind: str) -> list[tuple[int, int]]:
    """Spans of consecutive entity-like tokens of one kind ("New South Wales", "Bank of
    America"), never the question word that opens a sentence."""
    runs, i = [], 0
    while i < len(toks):
        if _kind(toks[i]) != kind:
            i += 1
            continue
        j = i + 1
        while j < len(toks) and toks[j - 1][-1] not in _PUNCT:
            if _kind(toks[j]) == kind:
                j += 1
            elif _core(toks[j]) in _CONNECT and j + 1 < len(toks) and _kind(toks[j + 1]) == kind \
                    and toks[j][-1] not in _PUNCT:  # fmt: skip
                j += 2
            else:
                break
        runs.append((i, j))
        i = j
    return runs


def _pieces(toks: list[str], s: int, e: int) -> list[tuple[int, int]]:
    """A run and, when connectors join it, each name it joins, in order (the whole first)."""
    cuts = [j for j in range(s, e) if _core(toks[j]) in _CONNECT]
    bounds = [s, *[c for j in cuts for c in (j, j + 1)], e]
    parts = [(a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=True) if a < b]
    return [(s, e), *parts] if len(parts) > 1 else [(s, e)]


def _text(toks: list[str]) -> str:
    return " ".join(_core(t) for t in toks)


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def _span(before: list[str], head: list[str]) -> tuple[int, int]:
    """The span of ``before`` that the correction ``head`` replaces."""
    n = len(before)
    words = [i for i, t in enumerate(head) if _content(t)]
    if not words:
        return n, n
    first = _core(head[words[0]])
    # the frame repeated: "capital of austria, no, the capital of australia"
    anchors = [j for j, t in enumerate(before) if stem(_core(t)) == stem(first)]
    if anchors and abs((n - anchors[-1]) - (len(head) - words[0])) <= 1:
        return anchors[-1], n
    # the entity of the same kind: a name for a name, a number for a number
    kind = _kind(head[words[0]])
    phrase = " ".join(_core(head[i]) for i in words)
    runs = _runs(before, kind) if kind else []
    if runs:  # a whole run or a piece of it ("CEO of Apple": "CEO", "Apple")
        pieces = [p for s, e in runs for p in _pieces(before, s, e)]
        score, s, e = max((_similar(_text(before[s:e]), phrase), s, e) for s, e in pieces)
        return (s, e) if score >= 0.5 else pieces[-1]
    # lowercase text: a word that sounds like the fix ("austria" / "australia")
    content = [i for i, t in enumerate(before) if _content(t)]
    sims = [(_similar(_core(before[i]), first), i) for i in content]
    if sims and max(sims)[0] >= 0.6:
        start = max(sims)[1]
        after = [i for i in content if i >= start][: len(words)]
        return start, after[-1] + 1
    # otherwise the last content words: as many as the fix has, or the whole trailing phrase
    # after the last function word ("of new south wales, no, victoria")
    take = content[-len(words) :] if content else []
    start = n
    while (
        start > 0
        and _content(before[start - 1])
        and (start == n or before[start - 1][-1] not in _PUNCT[:6])
    ):
        start -= 1
    if start < n and (not take or start < take[0]) and start > 0:
        return start, n
    return (take[0], n) if take else (n, n)


def _rewrite(before: list[str], fix: list[str]) -> list[str]:
    """``before`` with the part that ``fix`` corrects replaced (all of it for a new question)."""
    while before and (not _core(before[-1]) or _core(before[-1]) in _FILL):
        before = before[:-1]  # "austria uh -", "austria..."
    if before and before[-1][-1] in ",;:":
        before = [*before[:-1], before[-1].rstrip(",;:")]
    fix = [t for t in fix if _core(t)] or fix
    if not fix or not before:
        return before or fix
    lead = _core(fix[0])
    if lead in _QUESTION or (
        lead in {"in", "on", "at", "for"} and len(fix) > 1 and _core(fix[1]) in _QUESTION
    ):
        return fix  # "Austria? Sorry, what is the capital of Australia?": a new question
    cut = next((k + 1 for k, t in enumerate(fix) if t[-1] in _PUNCT), len(fix))
    head = fix[:cut]  # the corrected phrase, before any later marker
    s, e = _span(before, head)
    lead_words = [_core(t) for t in head[: next((k for k, t in enumerate(head) if _content(t)), 0)]]
    k = len(lead_words)
    if k and [_core(t) for t in before[max(0, s - k) : s]] == lead_words:
        s -= k  # "the capital of austria, no, of australia": do not say "of of"
    if e >= len(before):
        return before[:s] + fix
    last = fix[-1].rstrip(_END + ",;:") or fix[-1]
    out = before[:s] + fix[:-1] + [last] + before[e:]
    if fix[-1][-1] in _END and out[-1][-1] not in _END:
        out[-1] += fix[-1][-1]  # "Who is the CFO of Apple?"
    return out


def apply_corrections(text: str) -> str:
    """Rewrite spoken self-corrections into the question meant. The corrected phrase replaces
    the phrase it corrects (an entity for an entity, a year for a year), and a re-asked question
    replaces the whole: "What is the capital of Austria? No, Australia." -> "What is the capital
    of Australia." Questions that merely contain a marker word are left alone."""
    # stutters on function words only: "La La Land" and "Wild Wild West" keep their names
    text = _REPEAT.sub(lambda m: m.group(1) if m.group(1).lower() in STOPWORDS else m.group(), text)
    toks = _DASHES.sub(lambda m: " - " if "-" in m.group() or "\u2014" in m.group()
                       or "\u2013" in m.group() else "... ", text).split()  # fmt: skip
    changed = False
    for _ in range(8):
        found = _find_correction(toks)
        if found is None:
            break
        start, end = found
        before, fix = toks[:start], toks[end:]
        if not fix and {_core(t) for t in toks[start:end]} & _TRAILING:
            # "What is the capital of Austria? Australia, sorry.": the fix came before
            cut = [b for b in range(max(1, start - 4), start) if before[b - 1][-1] in "?,;-"]
            if cut and _content(before[cut[-1]]):
                before, fix = before[: cut[-1]], before[cut[-1] :]
        toks, changed = _rewrite(before, fix), True
    return " ".join(toks).rstrip(",;:- ") if changed else text


def make_query(text: str) -> str:
    """Search query from speech: corrections applied, stopwords and fillers dropped, order kept."""
    words, seen = [], set()
    for tok in tokens(apply_corrections(text)):
        if tok in STOPWORDS or tok in FILLERS:
            continue
        key = stem(tok)
        if key not in seen:
            seen.add(key)
            words.append(tok)
    return " ".join(words)


def query_key(query: str) -> str:
    """Order-insensitive normal form: two queries with the same key return the same results."""
    return " ".join(sorted({stem(t) for t in query.split()}))
