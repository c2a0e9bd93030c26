"""CRAG-style answer judging: each prediction is *correct* (+1), *missing* (0) or *hallucinated*
(-1), and score = accuracy - hallucination rate.

The rule judge, in order (the first rule that applies decides):

1. The prediction is cut to its first 75 words (CRAG cuts to 75 tokens).
2. Sentences that abstain or hedge ("I don't know", "I'm not sure, but here is what I found.",
   "cannot answer", ...) are set aside. Nothing left: missing. Something left: that is the
   answer the listener hears, judged by the rules below (a hedge buys no immunity).
3. False premise (gold "invalid question", or ``question_type == "false_premise"``): correct only
   when a sentence about the question asserts the correction: it says the premise is false
   ("invalid question", "that's not right", "never", "there is no", "did not", ...), sets the
   truth against the question's claim ("Canberra, not Sydney"), or, framed as a correction
   ("Actually, ..."), gives another count than the question's. A leading "Actually" before a
   plain answer is not a rejection. A prediction that calls a *valid* question invalid is
   hallucinated.
4. Normalized exact match with the answer or an alternative: correct. Normalizing lowercases,
   drops punctuation, articles and thousands separators, and writes number words of any size as
   digits ("ninety four", "one hundred and forty four", "nineteen eighty four").
5. Yes/no gold: correct when the prediction's yes/no (within its first 3 words) is that one.
6. Comparison (the question, when given, names two entities: "A or B", "is A older than B"):
   the asserted winner must be the gold one (``comparison.asserted_winner``: "X, not Y", "X
   passed Y", "X has more ... than Y", "X is older", both values). Naming both without a winner,
   or the gold alone without a comparison (except a short reply), is hallucinated.
7. A gold that lists several items: correct when every item is asserted, in any order. A text
   gold (not a number) contained in the prediction as whole words: correct, unless every
   occurrence follows "not", "than" or "beat", sits only in a side clause ("Steve Jobs, who
   hired Tim Cook, is ..."), or (outside set, aggregation and comparison questions) is only one
   item of an enumeration ("German, French, Italian and Romansh").
8. Gold that is a number (with an optional unit or scale word): the prediction's first number
   (its first year when the gold is a year; skipping years when it is not; skipping numbers
   restated from the question, "the 100 meters") decides: correct when it rounds to the gold at
   the gold's precision (9.58 s: 9.575-9.585), or is stated more coarsely with at least two
   significant digits and the gold rounds to it (9.6 s; 27.5 million for 27,490,921); years
   (1000-2100) and integers below 10 must be exact.
9. Everything else is hallucinated. Long free-text golds rarely pass rules 4-8: use the LLM judge.

``streaming.eval.llm_judge.LlmJudge`` asks any OpenAI-compatible endpoint for rules 4-8 and
falls back to this rule judge on any error.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from streaming.eval import comparison
from tools.language.numbers import ordinals_to_cardinals, words_to_digits
from tools.language.text import content_words, split_sentences

log = logging.getLogger(__name__)
MAX_WORDS = 75
OUTCOMES = ("correct", "missing", "hallucinated")
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_ABSTAIN = re.compile(
    r"\b(i\s+(do\s+not|don'?t)\s+know|not\s+sure|(can'?t|cannot|can\s+not|unable\s+to)\s+answer"
    r"|i\s+(do\s+not|don'?t)\s+have\s+(enough\s+)?information|no\s+information)\b"
)
_PREMISE = re.compile(
    r"\b(invalid|false\s+premise|premise|(that'?s|that\s+is|this\s+is|it'?s|it\s+is)\s+not\s+"
    r"(right|correct|true|accurate)|not\s+true|incorrect|mistaken|never|no\s+such|"
    r"there\s+(is|was|are|were)\s+no|(has|have|had)\s+no|did\s+not|didn'?t|has\s+not|hasn'?t|have\s+not|haven'?t|"
    r"does\s+not|doesn'?t|is\s+not|isn'?t|was\s+not|wasn'?t)\b"
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NOT_ASSERTED = frozenset("not nor than beat beats beating defeated defeating".split())
_FILLER = frozenset("it its is was answer that would be i think so well yes".split())


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "correct" | "missing" | "hallucinated"
    reason: str

    @property
    def points(self) -> int:
        return {"correct": 1, "missing": 0, "hallucinated": -1}[self.outcome]


def truncate(prediction: str, max_words: int = MAX_WORDS) -> str:
    return " ".join(prediction.split()[:max_words])


def normalize(text: str) -> str:
    """Lowercase, ASCII, no punctuation/articles/thousands separators, number words of any size
    as digits ("ninety four" -> "94", "nineteen eighty four" -> "1984")."""
    text = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep decimal points only
    text = re.sub(r"[^\w\s.-]", " ", text.replace("'", ""))
    text = words_to_digits(text).replace("-", " ")
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def _numbers(norm: str) -> list[float]:
    """Numbers in normalized text, with a following scale word applied (2.5 million)."""
    return [value for value, _ in _numbers_stated(norm)]


def _numbers_stated(norm: str) -> list[tuple[float, float]]:
    """(value, the precision it is stated to) for each number: "9.58" -> (9.58, 0.01),
    "2.5 million" -> (2.5e6, 1e5), "8850" -> (8850, 10): trailing zeros are rounding."""
    words, out = norm.split(), []
    for i, w in enumerate(words):
        for m in _NUMBER.finditer(w):
            scale = _SCALES.get(words[i + 1], 1.0) if i + 1 < len(words) else 1.0
            digits = m.group().lstrip("-")
            if "." in digits:
                unit = 10.0 ** -len(digits.split(".")[1])
            else:
                unit = 10.0 ** (len(digits) - len(digits.rstrip("0"))) if len(digits) > 1 else 1.0
            out.append((float(m.group()) * scale, unit * scale))
    return out


def _significant(value: float, unit: float) -> int:
    """Significant digits of a number stated to ``unit``."""
    return max(0, len(str(round(abs(value) / unit)).lstrip("0")))


def _is_year(x: float) -> bool:
    return x.is_integer() and 1000 <= x <= 2100


def _numbers_match(gold: tuple[float, float], pred: tuple[float, float]) -> bool:
    """Equal within rounding: the prediction rounds to the gold at the gold's precision, or
    (stated more coarsely, with at least two significant digits) the gold rounds to it."""
    (g, g_unit), (p, p_unit) = gold, pred
    if _is_year(g) or (g.is_integer() and abs(g) < 10):
        return p == g
    slack = 1e-9 * max(abs(g), 1.0)
    if abs(p - g) <= g_unit / 2 + slack:
        return True
    return p_unit > g_unit and _significant(p, p_unit) >= 2 and abs(p - g) <= p_unit / 2 + slack


def _is_numeric(norm_gold: str) -> bool:
    """A gold that is one number plus at most a few unit words ("3696 feet", "2 5 million")."""
    nums = _NUMBER.findall(norm_gold)
    return len(nums) == 1 and len(norm_gold.split()) <= 4


def is_invalid_gold(gold: Sequence[str], question_type: str | None = None) -> bool:
    return question_type == "false_premise" or any(normalize(g) == "invalid question" for g in gold)


def _content(pred: str) -> str:
    """The prediction without its abstaining or hedging sentences ("I'm not sure, but here is
    what I found."): what is left is what the listener hears as the answer."""
    kept = [
        x for x in split_sentences(pred) if not _ABSTAIN.search(x.lower().replace("\u2019", "'"))
    ]
    return " ".join(kept).strip()


def _restated(npred: str, nquestion: str) -> set[int]:
    """Word positions of numbers the prediction repeats from the question ("the 100 meters")."""
    q, words = f" {nquestion} ", npred.split()
    out = set()
    for i, w in enumerate(words):
        if _NUMBER.fullmatch(w):
            prev = f" {words[i - 1]} {w} " if i else ""
            nxt = f" {w} {words[i + 1]} " if i + 1 < len(words) else ""
            if (prev and prev in q) or (nxt and nxt in q):
                out.add(i)
    return out


def _asserted(ng: str, npred: str) -> bool:
    """The gold occurs at least once not as the object of "not", "than", "beat", ..."""
    for m in re.finditer(rf"(?<!\w){re.escape(ng)}(?!\w)", npred):
        before = npred[: m.start()].split()[-2:]
        if not any(w in _NOT_ASSERTED for w in before) and before[-2:] != ["instead", "of"]:
            return True
    return False


def _in_a_list(gold: str, pred: str) -> bool:
    """The gold is one item of an enumeration ("German, French, Italian and Romansh")."""
    chunks = [c.strip() for c in re.split(r"[,:;]", pred)]
    for i, chunk in enumerate(chunks):
        if re.search(rf"(?<!\w){re.escape(gold)}(?!\w)", normalize(chunk)):
            run = [j for j in range(max(0, i - 2), min(len(chunks), i + 3))
                   if len(chunks[j].split()) <= 4 and chunks[j]]  # fmt: skip
            near = [j for j in run if abs(j - i) <= 2]
            attached = i + 1 < len(chunks) and re.search(r"\d", chunks[i + 1])  # "…, in 1949"
            ends = any(re.search(r"\b(and|or)\b", chunks[j]) for j in near if j >= i)
            if i in near and len(near) >= 3 and normalize(chunk) != gold and ends and not attached:
                return True
    return False


def _rejects_premise(pred: str, question: str | None) -> bool:
    """A sentence about the question (sharing a content word with it) that asserts the
    correction: says the premise is false ("invalid", "never", "there is no", "did not", ...),
    sets the truth against something the question said ("Canberra, not Sydney"), or, framed as
    a correction ("Actually, ..."), gives another count than the question's ("fifth" -> 3).
    "Actually" before a sentence that merely answers is not a rejection."""
    asked = set(content_words(question)) if question else set()
    counts = set(_numbers(normalize(ordinals_to_cardinals(question)))) if question else set()
    for sentence in split_sentences(pred):
        low = sentence.lower().replace("\u2019", "'")
        if asked and not asked & set(content_words(sentence)):
            continue
        if _PREMISE.search(low):
            return True
        against = re.findall(r"\bnot\s+(?:the\s+|a\s+|an\s+)?([\w'-]+)", low)
        if against and (not asked or any(word in asked for word in against)):
            return True  # without the question, any "X, not Y" correction counts
        stated = set(_numbers(normalize(sentence)))
        if re.match(r"\W*actually\b", low) and counts and stated and not stated & counts:
            return True
    return False


def _side_clauses(pred: str) -> str:
    """``pred`` without its relative clauses and asides: "Steve Jobs, who hired Tim Cook, is the
    CEO" -> "Steve Jobs is the CEO"; what is left is what the answer asserts."""
    pred = re.sub(r"\([^)]*\)", " ", pred)
    pred = re.sub(r",\s+(?:who|whom|whose|which)\b[^,.;]*(?:,|(?=[.;]|$))", " ", pred)
    return pred


def _set_items(gold: str) -> list[str]:
    """The items of a gold that lists several ("German, French, Italian and Romansh")."""
    items = [normalize(x) for x in re.split(r",|;|\band\b|&", gold)]
    items = [x for x in items if x]
    return items if len(items) >= 2 else []


def judge(
    prediction: str,
    gold: Sequence[str],
    question_type: str | None = None,
    question: str | None = None,
) -> Verdict:
    """The rule judge (see the module docstring for the rules, in order)."""
    pred = truncate(prediction or "").strip()
    golds = [g for g in gold if g and g.strip()]
    if not pred:
        return Verdict("missing", "empty prediction")
    content = _content(pred)
    if not content:
        return Verdict("missing", "abstained")
    if content != pred:  # a hedge is a disclaimer, not an abstention: the rest is the answer
        v = judge(content, golds, question_type, question)
        return Verdict(v.outcome, f"hedged; {v.reason}")
    low = pred.lower().replace("\u2019", "'")
    if is_invalid_gold(golds, question_type):
        if _rejects_premise(pred, question):
            return Verdict("correct", "rejected the false premise")
        return Verdict("hallucinated", "answered a false-premise question")
    if re.search(r"\binvalid question\b", low):
        return Verdict("hallucinated", "called a valid question invalid")
    npred = normalize(re.sub(r"(\d)\. (\d)", r"\1.\2", pred))  # "9. 58 seconds" (LLM spacing)
    norm_golds = [(g, normalize(g)) for g in golds]
    for g, ng in norm_golds:
        if ng and npred == ng:
            return Verdict("correct", f"exact match: {g!r}")
    nquestion = normalize(question or "")
    pair = comparison.pair_for(nquestion, [ng for _, ng in norm_golds]) if question else None
    for _, ng in norm_golds:
        if ng in ("yes", "no"):
            first = next((w for w in npred.split()[:3] if w in ("yes", "no")), None)
            if first is not None:
                ok = first == ng
                return Verdict("correct" if ok else "hallucinated", f"{first} vs gold {ng}")
            if pair is None:
                return Verdict("hallucinated", f"no {ng} in the prediction")
    if pair is not None:
        return _judge_comparison(npred, pair)
    texts = [  # a gold spelled in words ("Nineteen Eighty-Four") is also a text
        (g, ng)
        for g, ng in norm_golds
        if ng and ng not in ("yes", "no") and (not _is_numeric(ng) or not re.search(r"\d", g))
    ]
    for g, _ in texts:  # a set, in any order: every item asserted
        items = _set_items(g)
        if items and all(_asserted(item, npred) for item in items):
            return Verdict("correct", f"names every item of {g!r}")
    unasserted = None
    nmain = normalize(_side_clauses(pred))
    for g, ng in texts:  # a text gold named as the answer ("1984" is also a novel)
        if re.search(rf"(?<!\w){re.escape(ng)}(?!\w)", npred) and not re.search(
            rf"(?<!\w){re.escape(ng)}(?!\w)", nmain
        ):
            unasserted = unasserted or Verdict(
                "hallucinated", f"{g!r} only in a side clause, not as the answer"
            )
            continue
        if re.search(rf"(?<!\w){re.escape(ng)}(?!\w)", npred):
            if not _asserted(ng, npred):
                unasserted = unasserted or Verdict(
                    "hallucinated", f"{g!r} only after 'not', 'than' or 'beat'"
                )
            elif question_type not in ("set", "aggregation", "comparison") and _in_a_list(ng, pred):
                unasserted = unasserted or Verdict(
                    "hallucinated", f"{g!r} only as one item of a list"
                )
            else:
                return Verdict("correct", f"contains {g!r}")
    if unasserted is not None:
        return unasserted
    targets = [_numbers_stated(ng)[0] for _, ng in norm_golds if _is_numeric(ng)]
    skip = _restated(npred, nquestion) if question else set()
    npred_kept = " ".join(w for i, w in enumerate(npred.split()) if i not in skip)
    pred_nums = _numbers_stated(npred_kept)
    if all(_is_year(t) for t, _ in targets):  # "founded on April 4, 1975": the year decides
        pred_nums = [x for x in pred_nums if _is_year(x[0])]
    elif not any(_is_year(t) for t, _ in targets):  # "27 titles since 1903": years are context
        pred_nums = [x for x in pred_nums if not _is_year(x[0])]
    if targets and pred_nums:  # the prediction's first such number decides
        first = pred_nums[0][0]
        for target in targets:
            if _numbers_match(target, pred_nums[0]):
                return Verdict("correct", f"number {first:g} matches {target[0]:g}")
        return Verdict("hallucinated", f"number {first:g} differs from {targets[0][0]:g}")
    return Verdict("hallucinated", "no gold answer found in the prediction")


def _judge_comparison(npred: str, pair: comparison.Pair) -> Verdict:
    """Rule 7 for a question comparing two entities: the asserted winner must be the gold one."""
    winner, how = comparison.asserted_winner(npred, pair)
    if winner == "gold":
        return Verdict("correct", f"asserts the gold entity as the winner ({how})")
    if winner == "other":
        return Verdict("hallucinated", f"asserts the other entity as the winner ({how})")
    named = comparison.names(npred, pair)
    if "other" in named:
        return Verdict("hallucinated", "names both entities without asserting a winner")
    if "gold" in named and len([w for w in npred.split() if w not in _FILLER]) <= 4:
        return Verdict("correct", "a short answer naming the gold entity")
    if "gold" in named:
        return Verdict("hallucinated", "names the gold entity without comparing")
    return Verdict("hallucinated", "names neither compared entity")


def score(verdicts: Sequence[Verdict]) -> dict[str, float]:
    """CRAG's summary: accuracy, hallucination and missing rates, score, n."""
    n = len(verdicts)
    counts = {o: sum(v.outcome == o for v in verdicts) for o in OUTCOMES}
    rate = {o: counts[o] / n if n else 0.0 for o in OUTCOMES}
    return {
        "accuracy": round(rate["correct"], 4),
        "hallucination": round(rate["hallucinated"], 4),
        "missing": round(rate["missing"], 4),
        "score": round(rate["correct"] - rate["hallucinated"], 4),
        "n": n,
    }


def breakdown(verdicts: Sequence[Verdict], keys: Sequence[str]) -> dict[str, dict[str, float]]:
    """``score`` per key (e.g. each verdict's domain or question type), keys sorted."""
    if len(verdicts) != len(keys):
        raise ValueError("verdicts and keys differ in length")
    groups: dict[str, list[Verdict]] = defaultdict(list)
    for v, k in zip(verdicts, keys, strict=True):
        groups[k or "unknown"].append(v)
    return {k: score(groups[k]) for k in sorted(groups)}
