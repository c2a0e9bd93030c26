"""Entity names for the knowledge graph: normalised tokens, cheap aliases, cue matching."""

from __future__ import annotations

import re
from collections.abc import Iterable

import jellyfish
from rapidfuzz import fuzz, process

from tools.language.text import FILLERS, STOPWORDS, stem, tokens

_KEEP = frozenset("who what when where which how most by up".split())  # cue-bearing stopwords
_CORP = frozenset(
    "inc corporation corp company co group ltd plc llc fc f c cf ag sa holdings platforms index "
    "river".split()
)
_LEAD = frozenset("the annual mount river".split())
_EXTRA = {"academy awards": ("oscars", "oscar"), "grammy awards": ("grammys", "grammy")}
_ROMAN = {"ii": ("2", "two"), "iii": ("3", "three"), "iv": ("4", "four")}
YEAR = re.compile(r"^(1[0-9]|20)\d\d$")


def norm_tokens(text: str) -> list[str]:
    """Folded lowercase tokens with possessives dropped ("Apple's" -> "apple")."""
    return [t.split("'")[0] for t in tokens(text)]


def norm(text: str) -> str:
    return " ".join(norm_tokens(text))


def root(word: str) -> str:
    """Stem plus -ed/-ing/-e, so "released"/"release" and "acquire"/"acquired" meet."""
    word = stem(word)
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def cue_seq(toks: Iterable[str]) -> tuple[str, ...]:
    """The cue sequence of tokens: roots of the content words and of the cue-bearing stopwords."""
    return tuple(root(t) for t in toks if t in _KEEP or (t not in STOPWORDS and t not in FILLERS))


def find_cues(cues: Iterable[tuple[str, ...]], seq: tuple[str, ...]) -> set[int]:
    """Positions in ``seq`` covered by any cue (its words in order, gaps allowed)."""
    out: set[int] = set()
    for cue in cues:
        pos: list[int] = []
        for word in cue:
            start = pos[-1] + 1 if pos else 0
            nxt = next((j for j in range(start, len(seq)) if seq[j] == word), -1)
            if nxt < 0:
                break
            pos.append(nxt)
        out.update(pos if len(pos) == len(cue) else ())
    return out


def share(words: set[str], other: set[str]) -> float:
    return len(words & other) / len(words) if words else 0.0


def aliases(name: str, team: bool = False) -> dict[str, float]:
    """Normalized aliases of a name: itself (1.0) and cheap variants (0.95)."""
    exact = {norm(name), norm(name.replace("&", " and ")), norm(re.sub(r"\([^)]*\)", " ", name))}
    out = {a: 1.0 for a in exact if a and not a.replace(" ", "").isdigit()}
    for a in list(out):
        t = a.split()
        while len(t) > 1 and (t[0] in _LEAD | _CORP or re.fullmatch(r"\d+(st|nd|rd|th)", t[0])):
            t = t[1:]
        while len(t) > 1 and t[-1] in _CORP:
            t = t[:-1]
        variants = [" ".join(t), *_EXTRA.get(" ".join(t), ())]
        if set(t) & set(_ROMAN):  # "part ii" -> "part 2", "part two"
            variants += [" ".join(_ROMAN.get(w, (w, w))[k] for w in t) for k in (0, 1)]
        if team and len(t) > 1 and t[-1].endswith("s"):  # "boston celtics" -> "celtics"
            variants += [t[-1], " ".join(t[-2:])]
        for v in variants:
            if v and v not in out and not set(v.split()) <= STOPWORDS:
                out[v] = 0.95
    return out


def best_sentence(sentences: list[str], subject: str, value: str) -> str:
    """The sentence holding the value (and the subject, if one does), else the closest one."""
    padded = [f" {norm(s)} " for s in sentences]
    v, s, vt = f" {norm(value)} ", f" {norm(subject)} ", set(norm_tokens(value))
    key = [(v in p, s in p, len(vt & set(p.split())), -i) for i, p in enumerate(padded)]
    return sentences[key.index(max(key))] if sentences else ""


class FuzzyNames:
    """Aliases close to a heard n-gram in spelling (rapidfuzz Indel ratio) or in sound.

    Spaces are ignored ("cold play" is "coldplay"). A spelling ratio of at least ``accept`` is
    a match; below it, down to ``floor``, the Metaphone codes vouch for it: the score becomes the
    mean of the spelling and the sound ratios ("oppen hammer" ~ "oppenheimer": 0.82 spelled, both
    OPNHMR, so 0.91). Words that only sound alike but are spelled far apart ("nolan", "nylon")
    stay below ``floor``."""

    def __init__(self, aliases: Iterable[str], accept: float = 0.85, floor: float = 0.7) -> None:
        self.aliases = list(dict.fromkeys(aliases))
        self.flat = [a.replace(" ", "") for a in self.aliases]
        self.codes = [jellyfish.metaphone(f) for f in self.flat]
        self.accept, self.floor = accept, floor

    def scan(self, text: str) -> tuple[tuple[str, float], ...]:
        """(alias, score >= accept) for ``text``, best first."""
        flat = text.replace(" ", "")
        hits = process.extract(
            flat, self.flat, scorer=fuzz.ratio, score_cutoff=self.floor * 100, limit=None
        )
        code, out = jellyfish.metaphone(flat), []
        for _, spelled, i in hits:
            score = spelled / 100
            if score < self.accept and code and self.codes[i]:
                score = max(score, (score + fuzz.ratio(code, self.codes[i]) / 100) / 2)
            if score >= self.accept:
                out.append((self.aliases[i], score))
        return tuple(sorted(out, key=lambda h: -h[1]))
