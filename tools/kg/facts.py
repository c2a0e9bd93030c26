"""The knowledge graph's facts: entities, aliases and fact triples in SQLite; (entity, attribute).

Entities are a document's title and its facts' subjects (one per name and domain), with cheap
aliases. A question is parsed into (entity, attribute): the entity by the longest alias n-gram of
the transcript (difflib for ASR spellings), the attribute by cue words scored against the
attributes that entity actually has, so a partial transcript ("what is the capital of") gives None.

``FactGraph`` is the store and the one-fact parse; ``tools.kg.graph.KnowledgeGraph`` adds the
reasoning built on it (``tools.kg.reason``), which reads it only through public methods.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, TypeVar

from tools.corpus import Document
from tools.language.text import FILLERS, STOPWORDS, content_words, split_sentences, stem, tokens

from .names import (
    YEAR,
    FuzzyNames,
    aliases,
    best_sentence,
    cue_seq,
    find_cues,
    norm,
    norm_tokens,
    root,
    share,
)

log = logging.getLogger(__name__)
G = TypeVar("G", bound="FactGraph")

_SCHEMA = """
DROP TABLE IF EXISTS entities; DROP TABLE IF EXISTS aliases; DROP TABLE IF EXISTS facts;
CREATE TABLE entities(id INTEGER PRIMARY KEY, name TEXT, norm_name TEXT, domain TEXT, doc_id TEXT);
CREATE TABLE aliases(alias_norm TEXT, entity_id INTEGER, weight REAL);
CREATE TABLE facts(entity_id INTEGER, attribute TEXT, value TEXT, value_norm TEXT,
                   target_id INTEGER, doc_id TEXT, sentence TEXT);
CREATE INDEX facts_entity ON facts(entity_id, attribute);
CREATE INDEX facts_target ON facts(target_id);
"""
# Question cues for a word of attribute names (or a whole name), from data/kg_synonyms.txt:
# `attr: cue, cue; attr: ...`, a line starting with two spaces continues the one before. The word
# itself always counts. Multi-word cues match in order with gaps allowed, after stopwords (except
# names._KEEP) are dropped.
_SYNONYMS = (Path(__file__).parents[1] / "data" / "kg_synonyms.txt").read_text(encoding="utf-8")
_ITEMS = re.compile(r"\s*(?:,|\band\b)\s*")  # list values: "phobos and deimos"


@dataclass(frozen=True)
class EntityRow:
    id: int
    name: str
    norm_name: str
    domain: str
    doc_id: str


@dataclass(frozen=True)
class Fact:
    entity: str
    attribute: str
    value: str
    doc_id: str
    sentence: str


@dataclass(frozen=True)
class KgQuery:
    entity: str
    attribute: str
    entity_score: float
    entity_id: int | None = None  # tells same-named entities apart (the film and the ship)


class NameMatch(NamedTuple):
    """An entity named by the tokens ``start:end`` of a question, with the name's score."""

    entity_id: int
    score: float
    start: int
    end: int


class FactGraph:
    """Entities, aliases and facts in SQLite (matching caches in memory); thread-safe.

    ``parse`` is memoized per normalized text and the fuzzy alias scan per n-gram (both LRU
    bounded, both pure functions of the graph): a partial transcript repeats the n-grams of the
    one before, so only the newly heard words cost a difflib scan."""

    def __init__(
        self, conn: sqlite3.Connection, parse_cache: int = 4096, fuzzy_cache: int = 16384
    ) -> None:
        self.conn, self._lock = conn, threading.Lock()
        self.entities = {r[0]: EntityRow(*r) for r in self._sql("SELECT * FROM entities")}
        self._alias: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for alias, eid, weight in self._sql("SELECT * FROM aliases ORDER BY weight DESC"):
            self._alias[alias].append((eid, weight))
        self._by_len: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for alias in self._alias:
            self._by_len[len(alias.replace(" ", ""))].append((alias.replace(" ", ""), alias))
        flat = [a for size in self._by_len.values() for a, _ in size]
        self._prefixes = {a[:i] for a in flat for i in range(5, len(a))}  # of words being said
        self._max_len = max((len(a.split()) for a in self._alias), default=1)
        self._attrs: dict[int, dict[str, list[tuple[str, set[str]]]]] = defaultdict(dict)
        self._words: dict[int, set[str]] = defaultdict(set)
        self._owners: dict[str, list[tuple[int, str]]] = defaultdict(list)
        sql = "SELECT entity_id, attribute, value, value_norm, sentence FROM facts ORDER BY rowid"
        for eid, attr, value, value_norm, sentence in self._sql(sql):
            words = set(content_words(f"{value} {sentence}"))
            self._attrs[eid].setdefault(attr, []).append((value_norm, words))
            self._words[eid] |= words
            for item in {value_norm, *(i for i in _ITEMS.split(value_norm) if i)}:
                self._owners[item].append((eid, attr))  # "vienna" of "vienna, bratislava ..."
        syn: dict[str, list[tuple[str, ...]]] = {}
        for entry in re.split(r"[;\n](?!  )", _SYNONYMS.strip()):
            key, _, cues = entry.partition(":")
            syn[key.strip()] = [cue_seq(norm_tokens(c)) for c in cues.split(",") if c.strip()]
        self.synonym_count = sum(len(v) for v in syn.values())  # (word, cue) pairs
        self._cue_words = {w for cues in syn.values() for c in cues for w in c}
        self._cue_words |= {root(w) for k in syn for w in k.split("_")}
        self._cues: dict[str, tuple[list[tuple[str, list[tuple[str, ...]]]], list]] = {}
        for attr in {a for attrs in self._attrs.values() for a in attrs}:
            units = [u for u in re.findall(r"[a-z]+|\d+", attr) if u not in STOPWORDS]
            unit_cues = [(u, [(root(u),), *syn.get(u, [])]) for u in units]
            self._cues[attr] = (unit_cues, syn.get(attr, []) if len(units) > 1 else [])
        self._parse_cached = lru_cache(maxsize=parse_cache)(self._parse)
        self._fuzzy = lru_cache(maxsize=fuzzy_cache)(self._fuzzy_scan)

    def _sql(self, query: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self.conn.execute(query, args).fetchall()

    @classmethod
    def build(cls: type[G], docs: Iterable[Document], path: str = ":memory:") -> G:
        """Build the graph from the documents' fact triples into a fresh database at ``path``."""
        docs = list(docs)
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.executescript(_SCHEMA)
        ids: dict[tuple[str, str], int] = {}

        def entity(name: str, doc: Document) -> int:
            key = (norm(name), doc.domain)
            if key not in ids:
                sql = "INSERT INTO entities(name, norm_name, domain, doc_id) VALUES (?, ?, ?, ?)"
                ids[key] = int(conn.execute(sql, (name, key[0], doc.domain, doc.id)).lastrowid or 0)
            return ids[key]

        def same(subject: str, doc: Document) -> bool:  # "Apple" is the "Apple Inc." entity
            s, t = ({stem(w) for w in norm_tokens(x)} - STOPWORDS for x in (subject, doc.title))
            return bool(s) and (s <= t or (len({f[0] for f in doc.facts}) == 1 and t <= s))

        main: dict[str, int] = {}
        for doc in docs:  # pass 1: each document's own entity, named by its matching subject
            base = re.sub(r"\s*\([^)]*\)", "", doc.title).strip()
            order = [f[0] for f in doc.facts]
            subjects = sorted(
                {f[0] for f in doc.facts if same(f[0], doc)},
                key=lambda s: (norm(s) != norm(base), order.index(s)),
            )
            main[doc.id] = entity((subjects or [base])[0], doc)
        names: dict[int, set[str]] = defaultdict(set)
        rows: dict[tuple[int, str, str], tuple] = {}
        for doc in docs:  # pass 2: facts, with their sentence; other subjects become entities
            names[main[doc.id]].add(doc.title)
            sentences = split_sentences(doc.text)
            for subject, attribute, value in doc.facts:
                eid = main[doc.id] if same(subject, doc) else entity(subject, doc)
                names[eid].add(subject)
                sentence = best_sentence(sentences, subject, value)
                row = (eid, attribute, str(value), norm(value), doc.id, sentence)
                rows.setdefault((eid, attribute, norm(value)), row)
        teams = {r[0] for r in rows.values() if r[1] in ("arena", "stadium", "league")}
        domain = {eid: dom for (_, dom), eid in ids.items()}
        alias_map: dict[str, list[int]] = defaultdict(list)
        for eid, found in names.items():
            best: dict[str, float] = {}
            for name in found:
                for a, w in aliases(name, eid in teams and domain[eid] == "sports").items():
                    best[a] = max(w, best.get(a, 0.0))
            conn.executemany(
                "INSERT INTO aliases VALUES (?, ?, ?)", [(a, eid, w) for a, w in best.items()]
            )
            for a in (a for a, w in best.items() if w == 1.0):  # relations use exact names only
                alias_map[a].append(eid)
        facts = []
        for eid, attribute, value, value_norm, doc_id, sentence in rows.values():
            targets = sorted(
                (t for t in alias_map[value_norm] if t != eid),
                key=lambda t: domain[t] != domain[eid],
            )
            facts.append(
                (eid, attribute, value, value_norm, (targets or [None])[0], doc_id, sentence)
            )
        conn.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?, ?)", facts)
        conn.commit()
        return cls(conn)

    @property
    def entity_count(self) -> int:
        return len(self.entities)

    @property
    def fact_count(self) -> int:
        return int(self._sql("SELECT COUNT(*) FROM facts")[0][0])

    def matches(self, toks: list[str]) -> list[NameMatch]:
        """Alias matches: exact n-grams, then fuzzy >= 0.85 on the rest; longest spans win."""
        found = [
            NameMatch(eid, w, i, j)
            for i in range(len(toks))
            for j in range(i + 1, min(len(toks), i + self._max_len) + 1)
            for eid, w in self._alias.get(" ".join(toks[i:j]), ())
        ]
        taken = {p for m in found for p in range(m.start, m.end)}
        for n, i in ((k, i) for k in range(1, 5) for i in range(len(toks) - k + 1)):
            if not taken & set(range(i, i + n)) and self._fuzzy_ok(toks[i : i + n]):
                for alias, ratio in self._fuzzy("".join(toks[i : i + n])):
                    found += [
                        NameMatch(e, w * ratio * 0.97, i, i + n) for e, w in self._alias[alias]
                    ]
        kept: list[NameMatch] = []
        for m in sorted(found, key=lambda m: (m.start - m.end, -m.score, m.start)):
            clash = [(k.start, k.end) for k in kept if k.start < m.end and m.start < k.end]
            if all(span == (m.start, m.end) for span in clash):
                kept.append(m)  # a span may name several entities (the film and the ship)
        return kept

    def _fuzzy_ok(self, gram: list[str]) -> bool:
        """Not too short, not edged by stopwords, not only question words ("chief"; a one- or
        two-letter piece of a split name, the "co" of "co play", is no question word), and not
        a word still being said ("austra" of "australia")."""
        text = "".join(gram)
        edges = {gram[0], gram[-1]} & (STOPWORDS | FILLERS)
        cue_only = {root(w) for w in gram if len(w) > 2} <= self._cue_words
        cue_only &= len(gram) == 1 or all(len(w) > 2 for w in gram)
        return len(text) >= 5 and not edges and not cue_only and text not in self._prefixes

    def _fuzzy_scan(self, text: str) -> tuple[tuple[str, float], ...]:
        """Aliases spelled or sounding like ``text`` (``FuzzyNames``: rapidfuzz + Metaphone,
        score >= 0.85, spaces ignored); cached as ``_fuzzy``. Its index is built on first use."""
        names = self.__dict__.get("_fuzzy_names")
        if names is None:  # two threads may both build it; one index wins, both are equal
            aliases = [alias for size in self._by_len.values() for _, alias in size]
            names = self.__dict__.setdefault("_fuzzy_names", FuzzyNames(aliases))
        return names.scan(text)

    def find_entities(self, text: str, limit: int = 3) -> list[tuple[EntityRow, float]]:
        """Entities named in ``text``, best (exact, longer) first."""
        best: dict[int, NameMatch] = {}
        for m in self.matches(norm_tokens(text)):
            if m.entity_id not in best or m.score > best[m.entity_id].score:
                best[m.entity_id] = m
        ranked = sorted(best.values(), key=lambda m: (-m.score, m.start - m.end, -m.start))
        return [(self.entities[m.entity_id], round(m.score, 3)) for m in ranked[:limit]]

    def _attr_score(self, attr: str, seq: tuple[str, ...], years: bool) -> float:
        """Cue score of an attribute: its words found, share of them, question words covered."""
        return self.attr_cover(attr, seq, years)[0]

    def attr_cover(
        self, attr: str, seq: tuple[str, ...], years: bool = False
    ) -> tuple[float, set[int]]:
        """``_attr_score`` and the positions of ``seq`` (see ``names.cue_seq``) its cues cover."""
        if attr not in self._cues:
            return 0.0, set()
        units, whole = self._cues[attr]
        covered = whole_hit = find_cues(whole, seq)
        matched = words = 0
        missing_year = False
        for unit, cues in units:
            hit = find_cues(cues, seq)
            covered = covered | hit
            matched += bool(hit)
            words += bool(hit) and not unit.isdigit()
            missing_year |= not hit and bool(YEAR.match(unit))
        if whole_hit:
            matched = words = len(units)
        if not words or (missing_year and years):  # "2024_winner" when asked about 2023
            return 0.0, set()
        return matched + matched / len(units) + 0.1 * len(covered), covered

    def parse(self, text: str) -> KgQuery | None:
        """(entity, attribute) asked about in ``text``, if both are there and the entity has it."""
        # Everything below reads ``text`` only through tokens(), so its tokens are the cache key.
        return self._parse_cached(" ".join(tokens(text)))

    def clear_caches(self) -> None:
        """Forget memoized parses and fuzzy scans (benchmarks measure the cold cost)."""
        self._parse_cached.cache_clear()
        self._fuzzy.cache_clear()

    def _parse(self, text: str) -> KgQuery | None:
        toks = norm_tokens(text)
        padded, q_words = f" {' '.join(toks)} ", set(content_words(text))
        q_years = {t for t in toks if YEAR.match(t)}
        how_many = " how many " in padded or " how much " in padded
        best: tuple[float, KgQuery] | None = None
        for m in self.matches(toks):
            seq = cue_seq(toks[: m.start] + toks[m.end :])
            ent_words = self._words[m.entity_id]
            for attr, values in self._attrs.get(m.entity_id, {}).items():
                kept = [(v, w) for v, w in values if f" {v} " not in padded]  # asked, not given
                score = self._attr_score(attr, seq, bool(q_years)) if kept else 0.0
                if score <= 0:
                    continue
                numeric = kept[0][0][:1].isdigit()
                score += 0.5 * (how_many and numeric) - 0.5 * (toks[0] == "who" and numeric)
                score += m.score + 0.02 * m.start / len(toks) + 0.05 * share(q_words, ent_words)
                score += 0.05 * max(share(q_words, w) for _, w in kept)
                score -= 2.0 * bool(q_years and not q_years & ent_words)  # another year's event
                if best is None or score > best[0]:
                    row = self.entities[m.entity_id]
                    best = (score, KgQuery(row.name, attr, round(m.score, 3), row.id))
        return best[1] if best else None

    def _ids(self, entity: str | int | None) -> list[int]:
        if isinstance(entity, int):
            return [entity]
        return [eid for eid, _ in self._alias.get(norm(entity or ""), [])]

    def lookup(self, query: KgQuery) -> list[Fact]:
        """The facts for a parsed query (every value of a many-valued attribute)."""
        sql = (
            "SELECT e.name, f.attribute, f.value, f.doc_id, f.sentence FROM facts f"
            " JOIN entities e ON e.id = f.entity_id"
            " WHERE f.entity_id = ? AND f.attribute = ? ORDER BY f.rowid"
        )
        ids = self._ids(query.entity if query.entity_id is None else query.entity_id)
        return [Fact(*r) for eid in ids for r in self._sql(sql, (eid, query.attribute))]

    def facts_of(self, entity_id: int) -> list[tuple[Fact, int | None]]:
        """Every fact of one entity, with the entity its value names (or None), in KB order."""
        sql = (
            "SELECT e.name, f.attribute, f.value, f.doc_id, f.sentence, f.target_id FROM facts f"
            " JOIN entities e ON e.id = f.entity_id WHERE f.entity_id = ? ORDER BY f.rowid"
        )
        return [(Fact(*r[:5]), r[5]) for r in self._sql(sql, (entity_id,))]

    def owners(self, value_norm: str) -> list[tuple[int, str]]:
        """(entity id, attribute) of the facts whose value is (or lists) ``value_norm``."""
        return self._owners.get(value_norm, [])

    def named(self, name_norm: str) -> list[tuple[int, float]]:
        """(entity id, weight) of the entities with this exact normalized alias, best first."""
        return self._alias.get(name_norm, [])

    def words_of(self, entity_id: int) -> set[str]:
        """The content words of an entity's values and fact sentences."""
        return self._words.get(entity_id, set())

    def cues_of(self, attr: str) -> tuple[list[tuple[str, list[tuple[str, ...]]]], list]:
        """An attribute's cues: (word, its cue sequences) per word of its name, and the cues of
        the whole name; empty for an attribute no entity has."""
        return self._cues.get(attr, ([], []))

    def neighbors(self, entity: str | int) -> list[tuple[str, EntityRow]]:
        """Related entities: (attribute, target) for facts whose value names an entity, and
        (attribute + "_of", source) for facts naming this one ("director_of", "Oppenheimer")."""
        sql = (
            "SELECT attribute, target_id FROM facts WHERE entity_id = ? AND target_id IS NOT NULL"
            " UNION ALL SELECT attribute || '_of', entity_id FROM facts WHERE target_id = ?"
        )
        return [
            (a, self.entities[t])
            for eid in self._ids(entity)
            for a, t in self._sql(sql, (eid, eid))
        ]
