"""What every reasoning step reads: a question's entity mentions and cue words against the
graph, the attributes of an entity, and the one composed answer (``Reasoned``).

Built on the fact graph's public methods (``tools.kg.facts``) and the value parsers
(``tools.kg.values``); ``arith`` and ``reason`` build on this module.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from tools.language.text import STOPWORDS, tokens

from .facts import Fact, FactGraph
from .names import YEAR, cue_seq, find_cues, norm_tokens
from .values import DATE_ATTRS, TYPES


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
class Mention:
    """Entities a question names at tokens ``start:end`` (several: the film and the ship)."""

    ids: tuple[int, ...]
    start: int
    end: int
    score: float = 1.0


class KgQuestion:
    """One question's tokens, entity mentions and the cue sequence outside chosen spans."""

    def __init__(self, kg: FactGraph, text: str) -> None:
        self.kg, self.raw = kg, tokens(text)
        self.toks = norm_tokens(text)
        self.text = " ".join(self.toks)
        spans: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for m in kg.matches(self.toks):
            if m.score >= 0.85:
                spans.setdefault((m.start, m.end), []).append((m.entity_id, m.score))
        self.mentions = [
            Mention(tuple(dict.fromkeys(e for e, _ in ids)), s, e, max(w for _, w in ids))
            for (s, e), ids in sorted(spans.items())
        ]
        self.years = {t for t in self.toks if YEAR.match(t)}

    def dated_ok(self, attr: str) -> bool:
        """False for "2024_winner" unless the question says 2024."""
        years = {u for u in attr.split("_") if YEAR.match(u)}
        return not years or bool(years & self.years)

    def about_years(self, *eids: int) -> bool:
        """The question's years, if any, appear in what the graph says about these entities."""
        return not self.years or any(self.years & self.kg.words_of(e) for e in eids)

    def seq(self, *skip: Mention, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Cue words outside ``skip``; a type word naming a skipped mention ("the film
        Oppenheimer", "the band Queen") is part of the name, not a question word."""
        drop = {m.start - 1 for m in skip if m.start and self.toks[m.start - 1] in TYPES}
        out = [
            t
            for i, t in enumerate(self.toks)
            if i not in drop and not any(m.start <= i < m.end for m in skip)
        ]
        return cue_seq([*out, *extra])

    def has(self, *words: str) -> bool:
        return any(f" {w} " in f" {self.text} " for w in words)

    def values_named(self, skip: list[Mention]) -> list[tuple[str, int, int]]:
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


def attrs_of(kg: FactGraph, eid: int) -> dict[str, list[tuple[Fact, int | None]]]:
    """An entity's facts by attribute, each with the entity its value names (or None)."""
    out: dict[str, list[tuple[Fact, int | None]]] = {}
    for fact, target in kg.facts_of(eid):
        out.setdefault(fact.attribute, []).append((fact, target))
    return out


def best_attr(kg, eid, seq, keep=None, exclude=frozenset()):
    """The attribute of ``eid`` its cues score best in ``seq`` (with ``keep`` true for its
    values), as (score, attribute, facts, covered) or None."""
    best = None
    for attr, facts in attrs_of(kg, eid).items():
        if attr in exclude or (keep is not None and not all(keep(f.value) for f, _ in facts)):
            continue
        score, covered = kg.attr_cover(attr, seq)
        if score > 0 and (best is None or score > best[0]):
            best = (score, attr, facts, covered)
    return best


def fully_cued(kg: FactGraph, attr: str, seq: tuple[str, ...]) -> bool:
    """Every word of the attribute's name is cued in ``seq`` (or its whole-name cue is)."""
    units, whole = kg.cues_of(attr)
    return bool(find_cues(whole, seq)) or (bool(units) and all(find_cues(c, seq) for _, c in units))


def name_of(kg: FactGraph, eid: int) -> str:
    return kg.entities[eid].name


def families(facts: dict) -> dict[str, str]:
    """Attribute by its family name: "release_date" and "release_year" compare."""
    return {re.sub(r"_(year|date)$", "", a): a for a in facts}


def shared_attr(q: KgQuestion, pairs, keep, extra):
    """The best-cued attribute two mentioned entities share:
    (score, (e1, f1), (e2, f2), (m1, m2))."""
    best = None
    for a, b in pairs:
        for ea in a.ids:
            for eb in b.ids:
                fa, fb = attrs_of(q.kg, ea), attrs_of(q.kg, eb)
                ga, gb = families(fa), families(fb)
                seq = q.seq(a, b, extra=extra)
                for fam in ga.keys() & gb.keys():
                    va, vb = fa[ga[fam]][0][0], fb[gb[fam]][0][0]
                    attr = ga[fam]
                    if keep(va.value) is None or keep(vb.value) is None:
                        continue
                    score = q.kg.attr_cover(attr, seq)[0]
                    if score <= 0 and attr in DATE_ATTRS:
                        score = 0.01 * (len(DATE_ATTRS) - DATE_ATTRS.index(attr))
                    if score > 0 and (best is None or score > best[0]):
                        best = (score, (ea, va), (eb, vb), (a, b))
    return best
