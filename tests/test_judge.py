"""The rule judge's comparison rule, hedges, and the fixes the hand-label audit found
(benchmarks/judge_audit.py); the older rule cases live in test_audiocrag.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streaming.eval.judge import judge, normalize
from streaming.eval.llm_judge import JUDGE_PROMPT

CELTICS = (
    "which team has won more nba titles the lakers or the celtics",
    ["Boston Celtics", "Celtics"],
)
OLDER = ("who is older tom hanks or denzel washington", ["Denzel Washington"])
FIRST = ("who was born first warren buffett or charlie munger", ["Charlie Munger", "Munger"])
MOVIE = ("which movie made more money avatar or avengers endgame", ["Avatar"])
NILE = ("is the nile longer than the amazon", ["yes"])


def outcome(case, prediction, qtype="comparison"):
    question, gold = case
    return judge(prediction, gold, qtype, question=question).outcome


@pytest.mark.parametrize(
    ("case", "prediction", "expected"),
    [
        # the example: the gold is named, but as the loser
        (CELTICS, "The Lakers have won more titles than the Celtics.", "hallucinated"),
        (CELTICS, "The Celtics have won more titles than the Lakers.", "correct"),
        (CELTICS, "The Lakers have won fewer titles than the Celtics.", "correct"),  # reversed word
        (CELTICS, "The Celtics, not the Lakers.", "correct"),
        (CELTICS, "The Lakers, not the Celtics.", "hallucinated"),
        (CELTICS, "Boston Celtics.", "correct"),  # a bare answer
        (CELTICS, "It's the Celtics.", "correct"),
        (CELTICS, "The Boston Celtics have won 18 titles, the most in league history.", "correct"),
        (CELTICS, "The Celtics and the Lakers are rivals.", "hallucinated"),  # no winner asserted
        (CELTICS, "The Celtics play at TD Garden.", "hallucinated"),  # no comparison at all
        (CELTICS, "The Lakers have more titles.", "hallucinated"),
        (CELTICS, "The Celtics did not win more titles than the Lakers.", "hallucinated"),
        (OLDER, "Denzel Washington is older than Tom Hanks.", "correct"),
        (OLDER, "Tom Hanks is younger than Denzel Washington.", "correct"),
        (OLDER, "Denzel Washington is younger than Tom Hanks.", "hallucinated"),
        (OLDER, "Denzel Washington was born first.", "correct"),
        (OLDER, "Denzel Washington is an American actor born on 28 December 1954.", "hallucinated"),
        (
            FIRST,
            "Charlie Munger was born in 1924, while Warren Buffett was born in 1930.",
            "correct",
        ),
        (
            FIRST,
            "Warren Buffett was born on 30 August 1930 and Charlie Munger on 1 January 1924.",
            "correct",
        ),  # fmt: skip
        (FIRST, "Warren Buffett was born in 1930, Charlie Munger in 1935.", "hallucinated"),
        (
            FIRST,
            "Charlie Munger was the longtime business partner of Warren Buffett.",
            "hallucinated",
        ),
        (
            MOVIE,
            "Avengers: Endgame was the highest-grossing film until a re-release of Avatar "
            "passed it.",
            "correct",
        ),  # fmt: skip
        (MOVIE, "Avatar made more money than Avengers: Endgame.", "correct"),
        (MOVIE, "Avengers: Endgame outgrossed Avatar.", "hallucinated"),
        # yes/no golds: the first word decides; a claim without yes/no is read by the rule
        (NILE, "Yes, the Nile is longer.", "correct"),
        (NILE, "No.", "hallucinated"),
        (NILE, "The Amazon is longer than the Nile.", "hallucinated"),
        (NILE, "The Nile is longer than the Amazon.", "correct"),
        (
            ("is the amazon longer than the nile", ["no"]),
            "The Nile is longer than the Amazon.",
            "correct",
        ),  # fmt: skip
    ],
)
def test_the_asserted_winner_must_be_the_gold_one(case, prediction, expected):
    assert outcome(case, prediction) == expected


def test_without_the_question_a_gold_after_than_or_not_is_not_asserted():
    gold = ["Boston Celtics", "Celtics"]
    assert (
        judge("The Lakers have won more titles than the Celtics.", gold).outcome == "hallucinated"
    )
    assert judge("The Lakers, not the Celtics.", gold).outcome == "hallucinated"
    assert judge("The Celtics have won more titles.", gold).outcome == "correct"
    eagles = ["Philadelphia Eagles", "Eagles"]
    assert (
        judge("The Chiefs beat the Philadelphia Eagles 40 to 22.", eagles).outcome == "hallucinated"
    )


def test_a_question_without_two_entities_keeps_the_containment_rule():
    q = "who won the wimbledon singles title for men in 2024"
    pred = "Carlos Alcaraz won the 2024 title, beating Novak Djokovic in the final."
    assert judge(pred, ["Carlos Alcaraz"], "simple_w_condition", question=q).outcome == "correct"


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("I'm not sure, but here is what I found. The cut was half a percentage point.", "correct"),
        ("I'm not sure, but here is what I found. The cut was a full point.", "hallucinated"),
        ("I'm not sure, but here is what I found. The Fed is the US central bank.", "hallucinated"),
        ("I'm not sure.", "missing"),
        ("I don't know.", "missing"),
        ("I don't know who that is. I'm not sure.", "missing"),
    ],
)
def test_a_hedge_is_judged_by_what_it_says(prediction, expected):
    assert judge(prediction, ["half a percentage point"]).outcome == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "qtype", "question", "expected"),
    [
        # a text alias wins over a mismatching year ("1984" is also the novel's title)
        (
            "Orwell wrote Animal Farm, published in 1945, and Nineteen Eighty-Four, published in "
            "1949.",
            ["Nineteen Eighty-Four", "1984"],
            "simple_w_condition",
            "which novel did george orwell publish in 1949",
            "correct",
        ),  # fmt: skip
        # a number restated from the question does not decide
        (
            "Bolt holds the 100 meters record with 9.58 seconds.",
            ["9.58 seconds", "9.58"],
            "simple",
            "what is the world record time of usain bolt in the 100 meters",
            "correct",
        ),  # fmt: skip
        ("The world record is 9. 58 seconds.", ["9.58 seconds"], "simple", None, "correct"),
        # the gold as one item of a list does not answer "which one"
        (
            "Switzerland has 4 national languages: German, French, Italian, and Romansh.",
            ["Romansh"],
            "simple_w_condition",
            None,
            "hallucinated",
        ),  # fmt: skip
        (
            "Romansh is the least spoken of the 4 national languages.",
            ["Romansh"],
            None,
            None,
            "correct",
        ),  # fmt: skip
        (
            "Switzerland's languages are German, French, Italian and Romansh.",
            ["German, French, Italian and Romansh"],
            "set",
            None,
            "correct",
        ),  # fmt: skip
        (
            "Heath Ledger, the actor, was born in Perth, Western Australia.",
            ["Perth", "Perth, Western Australia"],
            "multi-hop",
            None,
            "correct",
        ),  # fmt: skip
        # "has no" rejects a false premise
        ("Venus has no moons.", ["invalid question"], "false_premise", None, "correct"),
    ],
)
def test_fixes_from_the_audit(prediction, gold, qtype, question, expected):
    assert judge(prediction, gold, qtype, question=question).outcome == expected


def test_the_audit_labels_agree_with_the_judge():
    """The hand labels (benchmarks/judge_audit/labels.jsonl): ≥ 95 % agreement."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "judge_audit" / "labels.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) >= 100
    agree = sum(
        judge(r["prediction"], r["gold"], r["question_type"], question=r["question"]).outcome
        == r["label"]
        for r in rows
    )
    assert agree / len(rows) >= 0.95


def test_the_llm_prompt_asks_for_the_asserted_winner():
    assert "winner" in JUDGE_PROMPT and "comparison" in JUDGE_PROMPT.lower()


# --- the honest judge (issue 18): written in new words, none from the demo set --------------
@pytest.mark.parametrize(
    "spoken,digits",
    [
        ("ninety four", "94"),
        ("one hundred and forty four", "144"),
        ("twelve hundred fifty", "1250"),
        ("two thousand and five", "2005"),
        ("nineteen sixty nine", "1969"),
        ("three point two million", "3.2 million"),
    ],
)
def test_number_words_of_any_size_are_digits(spoken, digits):
    assert normalize(spoken) == digits


def test_a_false_premise_needs_an_explicit_rejection_about_the_question():
    q = "when did perth become the capital of australia"
    bad = "Actually, Perth became the capital of Australia in 1910."
    assert judge(bad, ["invalid question"], "false_premise", question=q).outcome == "hallucinated"
    good = "Perth was never the capital of Australia; Canberra is."
    assert judge(good, ["invalid question"], "false_premise", question=q).outcome == "correct"
    unrelated = "The rover did not find any water."
    verdict = judge(unrelated, ["invalid question"], "false_premise", question=q)
    assert verdict.outcome == "hallucinated"


def test_the_gold_must_be_the_answer_not_a_side_clause():
    q = "who directs the royal ballet"
    gold = ["Kevin O'Hare"]
    wrong = "Monica Mason, who hired Kevin O'Hare, directs the Royal Ballet."
    assert judge(wrong, gold, "simple", question=q).outcome == "hallucinated"
    right = "Kevin O'Hare, who followed Monica Mason, directs the Royal Ballet."
    assert judge(right, gold, "simple", question=q).outcome == "correct"


@pytest.mark.parametrize(
    "prediction,outcome",
    [
        ("It takes 9.58 seconds.", "correct"),
        ("It takes about 9.6 seconds.", "correct"),  # stated more coarsely: the gold rounds to it
        ("It takes 9.63 seconds.", "hallucinated"),  # as precise as the gold, and off
        ("It takes 10 seconds.", "hallucinated"),  # one significant digit is not an answer
    ],
)
def test_numbers_agree_within_the_rounding_they_are_stated_to(prediction, outcome):
    assert judge(prediction, ["9.58 seconds"], "simple").outcome == outcome


def test_large_numbers_agree_at_the_predictions_precision():
    gold = ["41,212,307"]
    assert judge("About 41.2 million people.", gold, "simple").outcome == "correct"
    assert judge("About 40 million people.", gold, "simple").outcome == "hallucinated"
    assert judge("About 43 million people.", gold, "simple").outcome == "hallucinated"


def test_a_set_is_correct_in_any_order_and_only_whole():
    gold = ["cyan, magenta and yellow"]
    assert judge("Yellow, cyan and magenta.", gold, "set").outcome == "correct"
    assert judge("Cyan and yellow.", gold, "set").outcome == "hallucinated"
