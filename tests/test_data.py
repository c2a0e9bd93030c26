"""The bundled knowledge base and demo QA set: size, coverage, support, retrievability."""

import pytest

from tools.corpus import load_questions
from tools.search.bm25 import Bm25Index

TYPES = {
    "simple",
    "simple_w_condition",
    "comparison",
    "aggregation",
    "set",
    "multi-hop",
    "post-processing",
    "false_premise",
}
DOMAINS = {"finance", "sports", "music", "movies", "open"}


@pytest.fixture(scope="module")
def questions():
    return load_questions()


def test_knowledge_base_covers_crag_domains(docs):
    assert len(docs) >= 300
    assert {d.domain for d in docs} == DOMAINS
    assert len({d.id for d in docs}) == len(docs)
    for d in docs:
        for _, _, value in d.facts:
            assert value.lower() in d.text.lower(), (d.id, value)


def test_qa_set_is_crag_shaped_and_supported(docs, questions):
    by_id = {d.id: d for d in docs}
    assert len(questions) >= 120
    assert {q.question_type for q in questions} == TYPES
    assert {q.domain for q in questions} == DOMAINS
    for q in questions:
        assert q.search_results, q.id
        cited = [by_id[r["doc_id"]] for r in q.search_results]
        if q.question_type == "false_premise":
            assert q.answer == "invalid question"
        elif q.question_type not in ("aggregation", "post-processing"):
            text = " ".join(d.text.lower() for d in cited)
            assert any(g.lower() in text for g in q.gold), (q.id, q.gold)


def test_every_question_retrieves_a_cited_document(docs, questions):
    index = Bm25Index(docs)
    misses = []
    for q in questions:
        top = {h.doc.id for h in index.search(q.query, 3)}
        if not top & {r["doc_id"] for r in q.search_results}:
            misses.append(q.query)
    assert len(misses) <= 0.05 * len(questions), misses
