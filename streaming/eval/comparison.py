"""The judge's comparison rule: which of the two compared entities does an answer assert as the winner?

Works on text normalized by ``judge.normalize`` (lowercase, no punctuation or articles). The two
entities come from the question ("... A or B", "is A older than B"); an answer's *claim* is, in
order of precedence:

1. a negation or contrast: "X, not Y", "X rather than Y", "X instead of Y": the entity after the
   marker loses;
2. a superseding verb: "X passed / surpassed / overtook / broke the record of / beat Y": the
   entity named last before the verb wins;
3. a comparative with "than": "X has more titles than Y", "X is younger than Y";
4. a comparative or superlative alone: "X is older", "X was founded first", "X, the most in
   league history", "X has won a record 15 times";
5. both entities' values: "X was born in 1924, while Y was born in 1930" (years for earlier /
   later, other numbers for more / fewer).

In 3 and 4 the entity named last before the word is its subject; a word of the opposite direction
to the question's ("younger" for "who is older") makes the other entity the winner. A "not" or
"never" just before the word flips it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.language.text import STOPWORDS

_DIRECTION = {
    **dict.fromkeys("first earlier before older oldest earliest sooner predates preceded".split(), "early"),
    **dict.fromkeys("later after younger youngest newer latest last recent".split(), "late"),
    **dict.fromkeys(
        "more most larger largest bigger biggest taller tallest longer longest higher highest "
        "greater greatest heavier richer record".split(),
        "more",
    ),
    **dict.fromkeys("less least fewer fewest smaller smallest shorter shortest lower lowest".split(), "less"),
}  # fmt: skip
_OPPOSITE = {"early": "late", "late": "early", "more": "less", "less": "more"}
_SUPERSEDE = frozenset(
    "passed surpassed overtook overtaken broke beat beats beating defeated defeating exceeded "
    "exceeds outsold outgrossed outnumbers eclipsed topped".split()
)
_NEGATORS = frozenset("not never isnt wasnt didnt doesnt nor".split())
# words that end an entity when reading outwards from "or" / "than" in a question
_BOUNDARY = frozenset(
    "who which what when where how did does do is was are were has have had won win wins made make "
    "hit hits released born formed founded came come published older younger first earlier later "
    "more fewer less than or and in at on".split()
) | frozenset(_DIRECTION)
# kind nouns that a question puts next to its entities ("nba titles the lakers", "the nile river")
_GENERIC = frozenset(
    "title titles award awards money company companies film films movie movies album albums band "
    "bank river country novel team club record records game games run runs career single singles "
    "grand slam league champions nba nfl home area population people city song songs".split()
)
_FUNCTION = frozenset("in by than of and on at for with from to as".split())  # "first in 1975"


@dataclass(frozen=True)
class Pair:
    gold: frozenset[str]  # distinctive words of the gold-side entity
    other: frozenset[str]  # distinctive words of the other entity
    direction: str | None  # the question's comparison ("early", "late", "more", "less")


def _side(words: list[str], start: int, step: int, cap: int) -> list[str]:
    out, i = [], start
    while 0 <= i < len(words) and words[i] not in _BOUNDARY and len(out) < cap:
        out.append(words[i])
        i += step
    return out[::-1] if step < 0 else out


def question_direction(norm_question: str) -> str | None:
    return next((_DIRECTION[w] for w in norm_question.split() if w in _DIRECTION), None)


def _contains(words: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


def compared_entities(norm_question: str) -> tuple[list[str], list[str]] | None:
    """The two entities of "... A or B ..." or "... A <comparative> than B ...", as word lists."""
    words = norm_question.split()
    for k, w in enumerate(words):
        if w == "or":
            left, right = _side(words, k - 1, -1, 3), _side(words, k + 1, 1, 4)
        elif w == "than" and k > 0 and words[k - 1] in _DIRECTION:
            left, right = _side(words, k - 2, -1, 3), _side(words, k + 1, 1, 4)
        else:
            continue
        if left and right:
            return left, right
    return None


def _pair(gold_words: set[str], other_side: list[str], direction: str | None) -> Pair | None:
    skip = STOPWORDS | _GENERIC
    gold = frozenset(w for w in gold_words if w not in skip and w not in other_side)
    other = frozenset(w for w in other_side if w not in skip and w not in gold_words)
    return Pair(gold, other, direction) if gold and other else None


def pair_for(norm_question: str, norm_golds: list[str]) -> Pair | None:
    """The compared entities with the gold one marked; None when the gold is neither of them.
    A yes/no gold to "is A older than B" makes A the gold entity for "yes", B for "no"."""
    sides = compared_entities(norm_question)
    if sides is None:
        return None
    direction = question_direction(norm_question)
    yes_no = [g for g in norm_golds if g in ("yes", "no")]
    if yes_no:
        if " than " not in f" {norm_question} ":
            return None
        win = 0 if yes_no[0] == "yes" else 1
        return _pair(set(sides[win]), sides[1 - win], direction)
    gold_words = [g.split() for g in norm_golds if g]
    hits = [any(_contains(s, g) or set(g) <= set(s) or set(s) <= set(g) for g in gold_words)
            for s in sides]  # fmt: skip
    if hits[0] == hits[1]:
        return None
    g_side, o_side = (sides[0], sides[1]) if hits[0] else (sides[1], sides[0])
    keep = max(len(g_side), 2)  # the other entity: its words nearest "or", as many as the gold's
    o_side = o_side[-keep:] if hits[1] else o_side[:keep]
    alias_words = {w for g in gold_words for w in g}
    return _pair(alias_words & set(g_side) or alias_words, o_side, direction)


def _mentions(words: list[str], pair: Pair) -> list[tuple[int, str]]:
    out = []
    for i, w in enumerate(words):
        if w in pair.gold:
            out.append((i, "gold"))
        elif w in pair.other:
            out.append((i, "other"))
    return out


def _before(mentions: list[tuple[int, str]], pos: int) -> str | None:
    prior = [who for i, who in mentions if i < pos]
    return prior[-1] if prior else None


def _after(mentions: list[tuple[int, str]], pos: int, within: int = 3) -> str | None:
    later = [who for i, who in mentions if pos < i <= pos + within]
    return later[0] if later else None


def _flip(who: str | None) -> str | None:
    return {"gold": "other", "other": "gold"}.get(who or "")


def _is_marker(words: list[str], i: int) -> bool:
    if words[i] not in _DIRECTION:
        return False
    if words[i] in ("first", "last", "record"):  # "the first Eagles album": an adjective
        nxt = words[i + 1] if i + 1 < len(words) else ""
        return words[i] == "record" or not nxt or nxt in _FUNCTION
    return True


def _values(words: list[str], mentions: list[tuple[int, str]], direction: str | None) -> str | None:
    """Rule 5: each entity's first value after its first mention, compared by the direction."""
    if direction is None:
        return None
    firsts: dict[str, int] = {}
    for i, who in mentions:
        firsts.setdefault(who, i)
    if len(firsts) < 2:
        return None
    order = sorted(firsts.items(), key=lambda kv: kv[1])
    bounds = [(who, start, order[j + 1][1] if j + 1 < len(order) else len(words))
              for j, (who, start) in enumerate(order)]  # fmt: skip
    want_year = direction in ("early", "late")
    values = {}
    for who, start, end in bounds:
        nums = [float(w) for w in words[start:end] if re.fullmatch(r"\d+(\.\d+)?", w)]
        nums = [x for x in nums if (1000 <= x <= 2100) == want_year]
        if not nums:
            return None
        values[who] = nums[0]
    if values["gold"] == values["other"]:
        return None
    smaller = min(values, key=values.get)
    return smaller if direction in ("early", "less") else _flip(smaller)


def asserted_winner(norm_pred: str, pair: Pair) -> tuple[str | None, str]:
    """("gold" | "other" | None, how) for the entity the answer asserts as the winner."""
    words = norm_pred.split()
    mentions = _mentions(words, pair)
    for i, w in enumerate(words):  # 1. "X, not Y", "X rather than Y", "X instead of Y"
        contrast = (w == "not" or (w == "than" and i > 0 and words[i - 1] == "rather")
                    or (w == "of" and i > 0 and words[i - 1] == "instead"))  # fmt: skip
        if contrast and _after(mentions, i, 2) is not None:
            loser = _after(mentions, i, 2)
            return _flip(loser), f"contrast: {loser} after {w!r}"
    both = {who for _, who in mentions} == {"gold", "other"}
    for i, w in enumerate(words):  # 2. superseding verbs, between the two compared entities
        if w in _SUPERSEDE and both and _before(mentions, i):
            return _before(mentions, i), f"{w!r}"
    for than in (True, False):  # 3. comparatives with "than", 4. without
        for i, w in enumerate(words):
            if not _is_marker(words, i):
                continue
            if than and "than" not in words[i + 1 : i + 4]:
                continue
            subject = _before(mentions, i)
            if subject is None and than:
                subject = _flip(_after(mentions, i + words[i + 1 : i + 4].index("than") + 1))
            if subject is None:
                continue
            same = pair.direction is None or _DIRECTION[w] not in (_OPPOSITE.get(pair.direction),)
            negated = any(x in _NEGATORS for x in words[max(0, i - 2) : i])
            winner = subject if same != negated else _flip(subject)
            return winner, f"{w!r}{' than' if than else ''}"
    winner = _values(words, mentions, pair.direction)  # 5. both values
    if winner is not None:
        return winner, "values"
    return None, "no claim"


def names(norm_pred: str, pair: Pair) -> set[str]:
    """Which of the two entities the answer names ("gold", "other")."""
    return {who for _, who in _mentions(norm_pred.split(), pair)}
