"""Reasoning over the knowledge graph: multi-hop, comparison, counting, dates, false premises.

``reason(kg, question, query_time)`` answers a question the graph can *establish* by combining
facts, as one composed sentence that restates what was asked, or returns None (never a guess):

- false premise: the question presupposes a value the graph contradicts ("when did Bob Marley
  release Thriller" -> "Actually, Thriller is by Michael Jackson, not Bob Marley.");
- comparison of two entities' values of one attribute (first, older, more, taller, ...);
- differences, spans and ages (against ``query_time``, CRAG's "03/15/2025, 10:00:00 PT");
- counting a listed value and sums over several entities;
- two hops through a fact whose value is another entity, or a value named in the question.
"""

from __future__ import annotations

import re

from tools.language.text import STOPWORDS, tokens

from .arith import aggregate, arithmetic
from .base import (
    KgQuestion,
    Mention,
    Reasoned,
    attrs_of,
    best_attr,
    fully_cued,
    name_of,
    shared_attr,
)
from .facts import FactGraph
from .names import YEAR, norm, norm_tokens
from .values import (
    AUX,
    BASE,
    CREATORS,
    DATED_EVENTS,
    EARLY,
    LATE,
    LESS,
    MADE_BY,
    MORE,
    ORDINALS,
    PAST,
    PERSON,
    PERSON_OWN,
    PLACE,
    PLACE_OWN,
    SCALE,
    TENS,
    VERB,
    attr_words,
    join_items,
    list_items,
    on_date,
    parse_date,
    parse_number,
    parse_query_time,
)

_PRESUPPOSING = re.compile(r"^(when|why|in what year|what year|which|what|how did|how was)\b")
_WH = {"who", "what", "when", "where", "which", "how", "most", "by", "up"}


def _kinds(kg: FactGraph, name: str) -> set[str]:
    """person / place, from the attributes a name is the value of (or an entity's own facts)."""
    out = set()
    for _, attr in kg.owners(norm(name)):
        words = set(attr.split("_"))
        out |= {"person"} if words & PERSON else set()
        out |= {"place"} if words & PLACE else set()
    for eid, _ in kg.named(norm(name)):
        own = set(attrs_of(kg, eid))
        out |= {"person"} if own & PERSON_OWN else set()
        out |= {"place"} if own & PLACE_OWN else set()
    return out


def _false_premise(q: KgQuestion) -> Reasoned | None:
    """A name in the slot of an attribute whose graph values are other names, or an ordinal or
    amount beyond the graph's count."""
    if not _PRESUPPOSING.match(q.text) or q.has("or"):
        return None
    others = [(" ".join(q.toks[m.start : m.end]), m) for m in q.mentions]
    others += [(v, None) for v, _, _ in q.values_named(q.mentions)]
    for creators in (False, True):  # the cued attributes first, then who made the work
        for m in (m for m in q.mentions if m.score >= 1.0):
            for eid in m.ids:
                found = _premise(q, m, eid, others, creators)
                if found:
                    return found
    return _count_premise(q)


def _premise(q: KgQuestion, m: Mention, eid: int, others, creators: bool) -> Reasoned | None:
    kg, seq = q.kg, q.seq(m)
    for attr, facts in attrs_of(kg, eid).items():
        values = [f.value for f, _ in facts]
        if not q.dated_ok(attr) or parse_number(values[0]) is not None or parse_date(values[0]):
            continue
        if creators and attr not in CREATORS:
            continue
        names = {norm(i) for v in values for i in [v, *list_items(v)]}
        cue = kg.attr_cover(attr, seq)[0] > 0 or any(
            len(w) >= 5 and attr.startswith(w[:5]) for w in q.toks if w not in STOPWORDS
        )
        family = ({"person"} if set(attr.split("_")) & PERSON else set()) | (
            {"place"} if set(attr.split("_")) & PLACE else set()
        )
        for other, om in others:
            if om is m or norm(other) in names:
                continue
            if not creators and "person" in _kinds(kg, other) and _related(kg, eid, other):
                continue  # a role that changes hands: "when did X step down as ceo" is history
            same_attr = any(a == attr and e != eid for e, a in kg.owners(other))
            kinds = _kinds(kg, other)
            if creators:
                ok = "person" in kinds
            else:
                ok = cue and (same_attr or bool(family & kinds))
            if ok:
                shown = " ".join(w.capitalize() for w in other.split())
                text = _premise_text(kg, eid, attr, values, shown)
                used = tuple(f for f, _ in facts)
                return Reasoned("false_premise", text, used, (norm(name_of(kg, eid)), other))
    return None


def _related(kg: FactGraph, eid: int, other: str) -> bool:
    """True when the graph links ``other`` and the entity at all (one is a value of the
    other's facts). For a person, a current role holder who differs then does not contradict
    the question (a founder who stepped down, a leader who returned); an unrelated one does."""
    other_norm = norm(other)
    if any(e == eid for e, _ in kg.owners(other_norm)):
        return True
    name = norm(name_of(kg, eid))
    for oid, _ in kg.named(other_norm):
        for facts in attrs_of(kg, oid).values():
            if any(name in {norm(f.value), *map(norm, list_items(f.value))} for f, _ in facts):
                return True
    return False


def _premise_text(kg: FactGraph, eid: int, attr: str, values: list[str], other: str) -> str:
    name, value = name_of(kg, eid), join_items(values)
    if attr in MADE_BY:
        return f"Actually, {name} is by {value}, not {other}."
    if attr == "founder":
        return f"Actually, {name} was founded by {value}, not {other}."
    if attr == "invented":
        return f"Actually, {name} invented the {value}, not the {other.lower()}."
    return f"Actually, the {attr_words(attr)} of {name} is {value}, not {other}."


def _count_premise(q: KgQuestion) -> Reasoned | None:
    """ "his tenth Wimbledon title" when the graph counts eight; "moon that orbits Venus" when it
    has none; "a supply cap of 50 million" when the graph says 21 million."""
    kg = q.kg
    ordinal = next((i + 1 for i, t in enumerate(ORDINALS) if q.has(t) and i > 0), None)
    ordinal = ordinal or next((n for w, n in TENS.items() if q.has(w)), None)
    for m in (m for m in q.mentions if m.score >= 1.0):
        for eid in m.ids:
            best = best_attr(kg, eid, q.seq(m))
            if best is None or not q.dated_ok(best[1]):
                continue
            _, attr, facts, _ = best
            fact = facts[0][0]
            if fact.value.lower().startswith("no "):
                name = name_of(kg, eid)
                text = f"Actually, {name} has {fact.value}."
                return Reasoned("false_premise", text, (fact,), (norm(name),))
            have = parse_number(fact.value)
            if have is None or have < 0 or len(facts) > 1:
                continue
            asked = [float(t) for t in q.toks if t.isdigit() and not YEAR.match(t)]
            unit = set(norm_tokens(fact.value)) - {
                t for t in norm_tokens(fact.value) if t.isdigit()
            }
            wrong = (ordinal and ordinal > have) or (
                asked and asked[0] != have and (unit & set(q.toks) or q.has(attr_words(attr)))
            )
            if wrong:
                name = name_of(kg, eid)
                units = {t for t in tokens(fact.value) if not t.isdigit() and t not in SCALE}
                if units:
                    text = f"Actually, {name} has {fact.value}."
                elif attr.endswith("s"):
                    text = f"Actually, {name} has {fact.value} {attr_words(attr)}."
                else:
                    text = f"Actually, the {attr_words(attr)} of {name} is {fact.value}."
                return Reasoned("false_premise", text, (fact,), (norm(name_of(kg, eid)),))
    return None


def _direction(q: KgQuestion) -> str | None:
    words = set(q.toks)
    for name, cues in (("early", EARLY), ("late", LATE), ("more", MORE), ("less", LESS)):
        if words & cues:
            return name
    return None


def _predicate(q: KgQuestion, first: int, last: int) -> str:
    words = q.raw[:first]
    if words and words[0] in ("who", "which", "what"):
        verb = next((i for i, w in enumerate(words) if i and (w in AUX or w.endswith("ed"))), 1)
        words = words[verb:]
    if words and words[0] in ("did", "does", "do"):
        words = words[1:]
    if not words:
        words = q.raw[last:]
        words = [PAST.get(words[0], words[0]), *words[1:]] if words else []
    while words and words[-1] in ("the", "a", "by", "or"):
        words = words[:-1]
    return " ".join(words)


def _comparison(q: KgQuestion) -> Reasoned | None:
    direction = _direction(q)
    if direction is None or len(q.mentions) < 2 or not q.has("or") or q.has("how"):
        return None
    temporal = direction in ("early", "late") or q.has("born first")
    keep = (lambda v: parse_date(v)) if temporal else parse_number
    extra = tuple(BASE[t] for t in q.toks if t in BASE)
    pairs = [(a, b) for i, a in enumerate(q.mentions) for b in q.mentions[i + 1 :]]
    best = shared_attr(q, pairs, keep, extra)
    if best is None:
        return None
    _, (ea, fa), (eb, fb), (ma, mb) = best
    ka, kb = (keep(fa.value), keep(fb.value))
    if ka == kb or (temporal and ka[0] == kb[0] and None in (*ka, *kb)):
        return None  # a tie, or the same year without the dates to split it
    a_wins = (ka < kb) if direction in ("early", "less") else (ka > kb)
    (w, wf), (lo, lf) = ((ea, fa), (eb, fb)) if a_wins else ((eb, fb), (ea, fa))
    pred = _predicate(q, min(ma.start, mb.start), max(ma.end, mb.end))
    how = (
        f"{on_date(wf.value)}, against {lf.value}"
        if temporal
        else f"with {wf.value} against {lf.value}"
    )
    text = f"{name_of(q.kg, w)} {pred}, {how} for {name_of(q.kg, lo)}."
    return Reasoned("comparison", text, (wf, lf), (norm(name_of(q.kg, w)), norm(name_of(q.kg, lo))))


_PREPOSITION = frozenset("in at on by for from of to with into".split())


def _relation(attr: str, name: str) -> str:
    """The hop as an English phrase: "the author of Emma"; "which Mount Fuji is located in"
    for an attribute that ends in a preposition (not "the located in of Mount Fuji")."""
    words = attr_words(attr)
    if words.split()[-1] in _PREPOSITION:
        return f"which {name} is {words}"
    return f"the {words} of {name}"


def _phrase(attr: str, name: str, value: str, via: str) -> str:
    if attr in DATED_EVENTS:
        return f"{name}, {via}, {VERB.get(attr, attr)} {on_date(value)}."
    if attr in VERB:
        return f"{name}, {via}, {VERB[attr]} {value}."
    return f"The {attr_words(attr)} of {name}, {via}, is {value}."


def _multi_hop(q: KgQuestion) -> Reasoned | None:
    """Two hops: an attribute of E whose value is an entity T, then an attribute of T asked by
    question words the first hop did not use (and that E itself does not answer)."""
    kg, best = q.kg, None
    if q.has("how many years", "how old", "how long", "how much"):
        return None  # arithmetic's questions: what it cannot compute, a hop does not answer
    covers = [
        kg.attr_cover(a, q.seq(m))[1]
        for m in q.mentions
        for e in m.ids
        for a in attrs_of(kg, e)
        if q.dated_ok(a)
    ]
    starts = [(m, eid, None) for m in q.mentions for eid in m.ids]
    for value, i, j in q.values_named(q.mentions):  # "the bank led by jamie dimon"
        for eid, attr in kg.owners(value):
            starts.append((Mention((), i, j), eid, attr))
    for m, eid, via_attr in starts:
        seq = q.seq(m)
        own = attrs_of(kg, eid)
        hops = []
        if via_attr is not None:  # the question names a value of eid: eid is the first hop
            f = own[via_attr][0][0]
            hops.append((0.5, eid, f"whose {attr_words(via_attr)} is {f.value}", f, set()))
        for attr, facts in own.items():
            score, covered = kg.attr_cover(attr, seq) if q.dated_ok(attr) else (0.0, set())
            if not {i for i in covered if seq[i] not in _WH} or not fully_cued(kg, attr, seq):
                continue  # the first hop must be asked, all of it, by content words
            for f, target in facts if score > 0 and via_attr is None else ():
                ids = [target] if target else [e for e, _ in kg.named(norm(f.value))]
                for t in ids[:1]:
                    hops.append((score, t, _relation(attr, name_of(kg, eid)), f, covered))
        for score, t, via, f1, covered in hops:
            for attr, facts in attrs_of(kg, t).items():
                s2, c2 = kg.attr_cover(attr, seq)
                fresh = {i for i in c2 - covered if seq[i] not in _WH}
                if s2 <= 0 or not fresh or attr == f1.attribute or t == eid:
                    continue
                if not q.dated_ok(attr) or not q.about_years(eid, t):
                    continue  # "the 2025 Oscars" is not the 96th ceremony
                if not fully_cued(kg, attr, seq):
                    continue  # every word of the attribute asked: "best picture", not "best"
                if any(c >= fresh for c in covers):
                    continue  # a mentioned entity answers those words itself
                cand = (score + s2, t, attr, facts, via, f1)
                if best is None or cand[0] > best[0]:
                    best = cand
    if best is None:
        return None
    _, t, attr, facts, via, f1 = best
    value = join_items([f.value for f, _ in facts])
    text = _phrase(attr, name_of(kg, t), value, via)
    return Reasoned(
        "multi_hop", text, (f1, *(f for f, _ in facts)), (norm(f1.entity), norm(name_of(kg, t)))
    )


def reason(kg: FactGraph, question: str, query_time: str | None = None) -> Reasoned | None:
    """The composed answer the graph establishes for ``question``, or None (see the module)."""
    key = (" ".join(tokens(question)), parse_query_time(query_time))
    cache = kg.__dict__.setdefault("_reasoned", {})
    if key not in cache:
        if len(cache) > 4096:
            cache.clear()
        q = KgQuestion(kg, key[0])
        cache[key] = (
            _false_premise(q)
            or _comparison(q)
            or arithmetic(q, key[1])
            or aggregate(q)
            or _multi_hop(q)
        )
    return cache[key]
