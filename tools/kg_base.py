"""Shared pieces of knowledge-graph reasoning: the answer type, value parsing, mentions.

Dates ("16 December 1775", "April 1994"), numbers ("2.8 billion dollars", "second largest"),
CRAG query times, a question's entity mentions and cue words, and the attribute helpers that
kg_reason and kg_arith share.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import date, datetime

from .kg import Fact, KnowledgeGraph
from .kg_names import _YEAR, _find, _seq, norm_tokens
from .language.text import NUMBER_WORDS, STOPWORDS, tokens

_MONTHS = "january february march april may june july august september october november december"
_MONTH = {m: i for i, m in enumerate(_MONTHS.split(), 1)}
_ORDINALS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
             "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
             ).split()  # fmt: skip
_TENS = {"twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "hundredth": 100}
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_EARLY = {"first", "earlier", "earliest", "older", "oldest", "before", "sooner"}
_LATE = {"later", "latest", "younger", "youngest", "newer", "recent", "last"}
_MORE = {"more", "most", "larger", "bigger", "taller", "longer", "higher", "greater", "heavier"}
_LESS = {"fewer", "less", "smaller", "shorter", "lower", "lighter", "least"}
_BASE = {"taller": "tall", "longer": "long", "bigger": "big", "larger": "large", "older": "old",
         "higher": "high", "younger": "young", "earlier": "early"}  # fmt: skip
_DATE_ATTRS = ("born", "founded", "formed", "established", "release_year", "released",
               "published", "completed", "launched")  # fmt: skip
_PRESUPPOSING = re.compile(r"^(when|why|in what year|what year|which|what|how did|how was)\b")
_PAST = {"win": "won", "have": "had", "make": "made", "sell": "sold", "hit": "hit",
         "come": "came", "score": "scored", "earn": "earned", "gross": "grossed"}  # fmt: skip
_PERSON = set("ceo founder author director singer artist producer member chair chairman governor "
              "actor starring writer inventor creator architect builder coach manager winner mvp "
              "drummer composer spouse".split())  # fmt: skip
_PLACE = set("capital city headquarters birthplace located location country origin".split())
_WH = {"who", "what", "when", "where", "which", "how", "most", "by", "up"}
_AUX = set("is was are were has have had did does do came made won hit sold grew".split())
_TYPES = set("film movie album band song novel book company bank club team singer composer "
             "player group artist index city country river mountain planet".split())  # fmt: skip
_CREATORS = ("artist", "author", "director", "founder", "creator", "inventor", "writer")
_VERB = {"born": "was born", "birthplace": "was born in", "died": "died", "founded": "was founded",
         "formed": "was formed", "release_year": "came out", "published": "was published",
         "headquarters": "is headquartered in", "launched": "was launched"}  # fmt: skip


@dataclass(frozen=True)
class Reasoned:
    kind: str  # false_premise | comparison | difference | span | age | count | sum | multi_hop
    text: str  # the one sentence to speak
    facts: tuple[Fact, ...]  # every fact the sentence rests on
    entities: tuple[str, ...]  # the entities used, normalized

    @property
    def key(self) -> tuple[str, str]:
        """Two questions with this key are answered by the same sentence from the same facts."""
        return "+".join(self.entities), f"{self.kind}:{zlib.crc32(self.text.encode()):08x}"


@dataclass(frozen=True)
class _Mention:
    ids: tuple[int, ...]
    start: int
    end: int
    score: float = 1.0


def parse_query_time(query_time: str | None) -> date:
    """CRAG's "03/15/2025, 10:00:00 PT" (or an ISO date) as a date; today when absent."""
    text = (query_time or "").strip()
    for fmt, size in (("%m/%d/%Y", 10), ("%Y-%m-%d", 10)):
        try:
            return datetime.strptime(text[:size], fmt).date()
        except ValueError:
            continue
    return date.today()


def parse_date(value: str) -> tuple[int, int | None, int | None] | None:
    """(year, month, day) of "16 December 1775", "August 30, 1930", "April 1994" or "1975"."""
    toks = tokens(value)
    years = [int(t) for t in toks if _YEAR.match(t)]
    if len(years) != 1:
        return None
    months = [_MONTH[t] for t in toks if t in _MONTH]
    days = [int(t) for t in toks if t.isdigit() and 1 <= int(t) <= 31]
    month = months[0] if months else None
    return years[0], month, days[0] if month and days else None


def parse_number(value: str) -> float | None:
    """The one number of a value ("7 Academy Awards", "2.8 billion dollars", "second largest"
    counts as -2: larger is smaller rank); None for dates and for values without one."""
    low = value.lower().replace(",", "")
    if parse_date(value) is not None and not re.fullmatch(r"\d+", low.strip()):
        return None
    rank = re.match(r"(\w+) largest", low)
    if rank and rank.group(1) in _ORDINALS:
        return -1.0 - _ORDINALS.index(rank.group(1))
    nums = re.findall(r"\d+(?:\.\d+)?", low)
    words = [w for w in tokens(low) if w in NUMBER_WORDS]
    if len(nums) == 1:
        after = low.split(nums[0], 1)[1].split()
        return float(nums[0]) * (_SCALE.get(after[0], 1.0) if after else 1.0)
    return float(NUMBER_WORDS.index(words[0])) if not nums and len(words) == 1 else None


def _items(value: str) -> list[str]:
    """The items of a listed value ("RM, Jin ... and Jungkook"), [value] when it is one name."""
    parts = [p.strip() for p in re.split(r",\s*|\s+and\s+", value) if p.strip()]
    named = all(p[:1].isupper() or p[:1].isdigit() for p in parts)
    return parts if len(parts) > 1 and named else [value]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _words(attr: str) -> str:
    return attr.replace("_", " ")


def _on(value: str) -> str:
    d = parse_date(value)
    return f"on {value}" if d and d[2] else f"in {value}"


class _Question:
    """One question's tokens, entity mentions and the cue sequence outside chosen spans."""

    def __init__(self, kg: KnowledgeGraph, text: str) -> None:
        self.kg, self.raw = kg, tokens(text)
        self.toks = norm_tokens(text)
        self.text = " ".join(self.toks)
        spans: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for m in kg._match(self.toks):
            if m.score >= 0.85:
                spans.setdefault((m.start, m.end), []).append((m.entity_id, m.score))
        self.mentions = [_Mention(tuple(dict.fromkeys(e for e, _ in ids)), s, e,
                                  max(w for _, w in ids)) for (s, e), ids in sorted(spans.items())]  # fmt: skip
        self.years = {t for t in self.toks if _YEAR.match(t)}

    def dated_ok(self, attr: str) -> bool:
        """False for "2024_winner" unless the question says 2024."""
        years = {u for u in attr.split("_") if _YEAR.match(u)}
        return not years or bool(years & self.years)

    def about_years(self, *eids: int) -> bool:
        """The question's years, if any, appear in what the graph says about these entities."""
        return not self.years or any(self.years & self.kg._words[e] for e in eids)

    def seq(self, *skip: _Mention, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Cue words outside ``skip``; a type word naming a skipped mention ("the film
        Oppenheimer", "the band Queen") is part of the name, not a question word."""
        drop = {m.start - 1 for m in skip if m.start and self.toks[m.start - 1] in _TYPES}
        out = [t for i, t in enumerate(self.toks)
               if i not in drop and not any(m.start <= i < m.end for m in skip)]  # fmt: skip
        return _seq([*out, *extra])

    def has(self, *words: str) -> bool:
        return any(f" {w} " in f" {self.text} " for w in words)

    def values_named(self, skip: list[_Mention]) -> list[tuple[str, int, int]]:
        """Fact values named outside the entity mentions: (value_norm, start, end)."""
        out, n = [], len(self.toks)
        for i in range(n):
            for j in range(min(n, i + 5), i, -1):
                gram = " ".join(self.toks[i:j])
                inside = any(m.start < j and i < m.end for m in skip)
                if not inside and self.kg.owners(gram) and not set(gram.split()) <= STOPWORDS:
                    if not gram.replace(" ", "").isdigit():
                        out.append((gram, i, j))
                        break
        return out


def _attrs(kg: KnowledgeGraph, eid: int) -> dict[str, list[tuple[Fact, int | None]]]:
    out: dict[str, list[tuple[Fact, int | None]]] = {}
    for fact, target in kg.facts_of(eid):
        out.setdefault(fact.attribute, []).append((fact, target))
    return out


def _best_attr(kg, eid, seq, keep=None, exclude=frozenset()):
    """The attribute of ``eid`` its cues score best in ``seq`` (with ``keep`` true for its
    values), as (score, attribute, facts, covered) or None."""
    best = None
    for attr, facts in _attrs(kg, eid).items():
        if attr in exclude or (keep is not None and not all(keep(f.value) for f, _ in facts)):
            continue
        score, covered = kg.attr_cover(attr, seq)
        if score > 0 and (best is None or score > best[0]):
            best = (score, attr, facts, covered)
    return best


def _full(kg: KnowledgeGraph, attr: str, seq: tuple[str, ...]) -> bool:
    """Every word of the attribute's name is cued in ``seq`` (or its whole-name cue is)."""
    units, whole = kg._cues.get(attr, ([], []))
    return bool(_find(whole, seq)) or (bool(units) and all(_find(c, seq) for _, c in units))


def _name(kg: KnowledgeGraph, eid: int) -> str:
    return kg.entities[eid].name


def _family(facts: dict) -> dict[str, str]:
    """Attribute by its family name: "release_date" and "release_year" compare."""
    return {re.sub(r"_(year|date)$", "", a): a for a in facts}


def _shared(q: _Question, pairs, keep, extra):
    """The best-cued attribute two mentioned entities share:
    (score, (e1, f1), (e2, f2), (m1, m2))."""
    best = None
    for a, b in pairs:
        for ea in a.ids:
            for eb in b.ids:
                fa, fb = _attrs(q.kg, ea), _attrs(q.kg, eb)
                ga, gb = _family(fa), _family(fb)
                seq = q.seq(a, b, extra=extra)
                for fam in ga.keys() & gb.keys():
                    va, vb = fa[ga[fam]][0][0], fb[gb[fam]][0][0]
                    attr = ga[fam]
                    if keep(va.value) is None or keep(vb.value) is None:
                        continue
                    score = q.kg.attr_cover(attr, seq)[0]
                    if score <= 0 and attr in _DATE_ATTRS:
                        score = 0.01 * (len(_DATE_ATTRS) - _DATE_ATTRS.index(attr))
                    if score > 0 and (best is None or score > best[0]):
                        best = (score, (ea, va), (eb, vb), (a, b))
    return best
