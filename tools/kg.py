"""A small knowledge graph over the knowledge base's fact triples, kept in SQLite, as an async tool.

Entities are a document's title and its facts' subjects (one entity per name and domain), with
cheap aliases. A spoken question is parsed into (entity, attribute): the entity by the longest
alias n-gram in the transcript (difflib as a fallback for ASR spellings), the attribute by cue
words scored against the attribute names the entity actually has, so a partial transcript
("what is the capital of") parses to nothing.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import random
import re
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .corpus import Document
from .latency import LatencyProfile
from .search import Hit, SearchResult
from .text import FILLERS, STOPWORDS, content_words, split_sentences, stem, tokens

log = logging.getLogger(__name__)

_SCHEMA = """
DROP TABLE IF EXISTS entities; DROP TABLE IF EXISTS aliases; DROP TABLE IF EXISTS facts;
CREATE TABLE entities(id INTEGER PRIMARY KEY, name TEXT, norm_name TEXT, domain TEXT, doc_id TEXT);
CREATE TABLE aliases(alias_norm TEXT, entity_id INTEGER, weight REAL,
                     PRIMARY KEY(alias_norm, entity_id));
CREATE TABLE facts(entity_id INTEGER, attribute TEXT, value TEXT, value_norm TEXT,
                   target_id INTEGER, doc_id TEXT, sentence TEXT);
CREATE INDEX facts_entity ON facts(entity_id, attribute);
CREATE INDEX facts_target ON facts(target_id);
"""
# Question cues per attribute-name word (or whole attribute name); the word itself always counts.
_SYNONYMS = """
ceo: chief executive, chief executive officer, boss, runs, run, head, leads, in charge of
chair: chairman, chairwoman, head
chairman: chair, head
governor: head, runs, in charge of
founded: established, started, created, formed, set up, incorporated, founding
founder: founded by, who founded, who started, started by, who created, created by, co founder, founders, who set up
born: birthday, birth date, date of birth, how old, age, birth year, old
birthplace: where born, town born, city born, place born, place of birth, born where, hometown, home town
died: death, die, dead, passed away
director: directed, direct, directing, filmmaker, who made
release: released, came out, come out, release date
year: when
headquarters: headquartered, based, hq, head office, main office
currency: money
population: how many people, people live, inhabitants, populous, residents
height: tall, how tall, high, how high, elevation
length: long, how long
stadium: home ground, ballpark, home games, where play, home stadium
arena: home games, where play, home court
league: what league, which league
championships: titles, title, won, championship, rings
winner: won, win, wins, winning, champion
wins: won, win, times
men: man, male
women: woman, female, ladies
m: meters, metres, meter, metre
mvp: most valuable player
oscar: academy award, academy awards
film: movie, movies, picture, films
author: wrote, written, writer, write, penned, written by
published: publish, publication
label: record label, record company, records
producer: produced, produce, produced by
studio: animation studio, production company
starring: star, stars, starred, lead actor, who was in, cast
actor: played, plays, portrayed
spouse: married, wife, husband
team: play for, plays for, club
sport: what sport, which sport
nickname: nicknamed, called, known as
ticker: ticker symbol, stock symbol, symbol, trade under
stock_exchange: traded, listed, trade on, trades on, stock market
located_in: where, located, location, situated
location: where, located, situated
largest: biggest, most populous
language: languages, speak, spoken, speaks
least: fewest, least
completed: finished, built, completion
built: constructed, construction
architect: designed, designer
discovered: discover, discovery
inventor: invented by, who invented
lead_singer: singer, vocalist, frontman, lead vocalist, sang
members: member, band members
genre: kind of music, type of music, style
box_office: gross, grossed, earned, made
acquired: acquire, bought, buy, purchased, took over
owner: owns, owned by, who owns
manager: managed, coach
symbol: chemical symbol
moons: how many moons, satellites
highest_mountain: tallest mountain, highest peak, highest point
venue: where held, played at
host: hosted, hosts, presenter, presented
sales: sold, copies
sank: sink, sunk, sinking
"""
_KEEP = frozenset("who what when where which how most by up".split())  # cue-bearing stopwords
_CORP = frozenset(
    "inc corporation corp company co group ltd plc llc fc f c cf ag sa holdings "
    "platforms index".split()
)
_EXTRA = {"academy awards": ("oscars", "oscar"), "grammy awards": ("grammys", "grammy")}
_ROMAN = {"ii": ("2", "two"), "iii": ("3", "three"), "iv": ("4", "four")}
_YEAR = re.compile(r"^(1[0-9]|20)\d\d$")


def norm_tokens(text: str) -> list[str]:
    """Folded lowercase tokens with possessives dropped ("Apple's" -> "apple")."""
    return [t.split("'")[0] for t in tokens(text)]


def norm(text: str) -> str:
    return " ".join(norm_tokens(text))


def _root(word: str) -> str:
    """Stem plus -ed/-ing/-e, so "released"/"release" and "acquire"/"acquired" meet."""
    word = stem(word)
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def _seq(toks: Iterable[str]) -> tuple[str, ...]:
    return tuple(_root(t) for t in toks if t in _KEEP or (t not in STOPWORDS and t not in FILLERS))


def _keyset(text: str) -> frozenset[str]:
    return frozenset(stem(t) for t in norm_tokens(text) if t not in STOPWORDS)


def _find(cues: Iterable[tuple[str, ...]], seq: tuple[str, ...]) -> set[int]:
    """Positions in ``seq`` covered by any cue phrase (its words in order, gaps allowed)."""
    out: set[int] = set()
    for cue in cues:
        pos, i = [], 0
        for word in cue:
            while i < len(seq) and seq[i] != word:
                i += 1
            if i == len(seq):
                break
            pos.append(i)
            i += 1
        if len(pos) == len(cue):
            out.update(pos)
    return out


def _share(words: set[str], other: set[str]) -> float:
    return len(words & other) / len(words) if words else 0.0


def _aliases(name: str, team: bool = False) -> dict[str, float]:
    """Normalized aliases of a name: itself (1.0) and cheap variants (0.95)."""
    exact = {norm(name), norm(name.replace("&", " and ")), norm(re.sub(r"\([^)]*\)", " ", name))}
    out = {a: 1.0 for a in exact if a and not a.replace(" ", "").isdigit()}
    for a in list(out):
        t = a.split()
        while len(t) > 1 and (
            t[0] in ("the", "annual", "mount", "river") or re.fullmatch(r"\d+(st|nd|rd|th)", t[0])
        ):
            t = t[1:]
        while len(t) > 1 and t[-1] in _CORP | {"river"}:
            t = t[:-1]
        while len(t) > 1 and t[0] in _CORP:
            t = t[1:]
        variants = [" ".join(t), *_EXTRA.get(" ".join(t), ())]
        variants += [
            " ".join(_ROMAN.get(w, (w, w))[k] for w in t) for k in (0, 1) if set(t) & set(_ROMAN)
        ]
        if team and len(t) > 1 and t[-1].endswith("s"):  # "boston celtics" -> "celtics"
            variants += [t[-1], " ".join(t[-2:])]
        for v in variants:
            if v and v not in out and not set(v.split()) <= STOPWORDS:
                out[v] = 0.95
    return out


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
    entity_id: int | None = None  # disambiguates same-named entities (the film and the ship)


@dataclass(frozen=True)
class _Match:
    entity_id: int
    score: float
    start: int
    end: int


def _best_sentence(sentences: list[str], subject: str, value: str) -> str:
    """The sentence holding the value (and the subject, if one does), else the closest one."""
    if not sentences:
        return ""
    padded = [f" {norm(s)} " for s in sentences]
    v, s, vt = f" {norm(value)} ", f" {norm(subject)} ", set(norm_tokens(value))
    return sentences[
        max(
            range(len(padded)),
            key=lambda i: (v in padded[i], s in padded[i], len(vt & set(padded[i].split())), -i),
        )
    ]


class KnowledgeGraph:
    """Entities, aliases and facts in SQLite; parsing and lookup are thread-safe."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        with self._lock:
            ents = conn.execute(
                "SELECT id, name, norm_name, domain, doc_id FROM entities"
            ).fetchall()
            alias_rows = conn.execute(
                "SELECT alias_norm, entity_id, weight FROM aliases"
            ).fetchall()
            fact_rows = conn.execute(
                "SELECT entity_id, attribute, value, value_norm, sentence FROM facts ORDER BY rowid"
            ).fetchall()
        self.entities = {r[0]: EntityRow(*r) for r in ents}
        self._alias: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._by_len: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for alias, eid, weight in alias_rows:
            if alias not in self._alias:
                self._by_len[len(alias.replace(" ", ""))].append((alias.replace(" ", ""), alias))
            self._alias[alias].append((eid, weight))
        self._max_len = max((len(a.split()) for a in self._alias), default=1)
        self._prefixes = {
            f[:i]
            for f, _ in (x for v in self._by_len.values() for x in v)
            for i in range(5, len(f))
        }
        self._attrs: dict[int, dict[str, list[tuple[str, set[str]]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._words: dict[int, set[str]] = defaultdict(set)
        for eid, attr, value, value_norm, sentence in fact_rows:
            words = set(content_words(f"{value} {sentence}"))
            self._attrs[eid][attr].append((value_norm, words))
            self._words[eid].update(words)
        syn: dict[str, list[tuple[str, ...]]] = {}
        for line in _SYNONYMS.strip().splitlines():
            key, _, cues = line.partition(":")
            syn[key.strip()] = [_seq(norm_tokens(c)) for c in cues.split(",") if c.strip()]
        self.synonym_count = sum(len(v) for v in syn.values())
        self._cue_words = {w for cues in syn.values() for c in cues for w in c} | {
            _root(w) for k in syn for w in re.findall(r"[a-z]+", k)
        }
        self._cues: dict[str, tuple[list[tuple[str, list[tuple[str, ...]]]], list]] = {}
        for attr in {a for attrs in self._attrs.values() for a in attrs}:
            units = [u for u in re.findall(r"[a-z]+|\d+", attr) if u not in STOPWORDS]
            self._cues[attr] = (
                [(u, [(_root(u),), *syn.get(u, [])]) for u in units],
                syn.get(attr, []) if len(units) > 1 else [],
            )

    @classmethod
    def build(cls, docs: Iterable[Document], path: str = ":memory:") -> KnowledgeGraph:
        """Build the graph from documents' fact triples into a fresh database at ``path``."""
        docs = list(docs)
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.executescript(_SCHEMA)
        ids: dict[tuple[str, str], int] = {}
        main: dict[str, int] = {}

        def entity(name: str, doc: Document) -> int:
            key = (norm(name), doc.domain)
            if key not in ids:
                cur = conn.execute(
                    "INSERT INTO entities(name, norm_name, domain, doc_id) VALUES (?, ?, ?, ?)",
                    (name, key[0], doc.domain, doc.id),
                )
                ids[key] = int(cur.lastrowid or 0)
            return ids[key]

        def same(subject: str, doc: Document) -> bool:  # "Apple" is the "Apple Inc." entity
            s, t = _keyset(subject), _keyset(doc.title)
            single = len({f[0] for f in doc.facts}) == 1
            return bool(s) and (s <= t or (single and t <= s))

        for doc in docs:  # pass 1: each document's own entity
            subjects = [f[0] for f in doc.facts if same(f[0], doc)]
            base = re.sub(r"\s*\([^)]*\)", "", doc.title).strip()
            exact = [s for s in subjects if norm(s) == norm(base)]
            main[doc.id] = entity((exact or subjects or [base])[0], doc)
        alias_of: dict[int, set[str]] = defaultdict(set)
        seen: set[tuple[int, str, str]] = set()
        rows = []
        for doc in docs:  # pass 2: facts, other subjects, aliases
            alias_of[main[doc.id]].add(doc.title)
            sentences = split_sentences(doc.text)
            for subject, attribute, value in doc.facts:
                eid = main[doc.id] if same(subject, doc) else entity(subject, doc)
                alias_of[eid].add(subject)
                if (eid, attribute, norm(value)) in seen:
                    continue
                seen.add((eid, attribute, norm(value)))
                sentence = _best_sentence(sentences, subject, value)
                rows.append((eid, attribute, str(value), norm(value), doc.id, sentence))
        teams = {r[0] for r in rows if r[1] in ("arena", "stadium", "league")}
        domain = {eid: dom for (_, dom), eid in ids.items()}
        alias_map: dict[str, list[int]] = defaultdict(list)
        for eid, names in alias_of.items():
            best: dict[str, float] = {}
            for name in names:
                for a, w in _aliases(name, eid in teams and domain[eid] == "sports").items():
                    best[a] = max(w, best.get(a, 0.0))
            for a, w in best.items():
                conn.execute("INSERT INTO aliases VALUES (?, ?, ?)", (a, eid, w))
                alias_map[a].append(eid)
        for eid, attribute, value, value_norm, doc_id, sentence in rows:
            targets = [t for t in alias_map.get(value_norm, []) if t != eid]
            targets.sort(key=lambda t: domain[t] != domain[eid])
            conn.execute(
                "INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    eid,
                    attribute,
                    value,
                    value_norm,
                    targets[0] if targets else None,
                    doc_id,
                    sentence,
                ),
            )
        conn.commit()
        return cls(conn)

    @property
    def entity_count(self) -> int:
        return len(self.entities)

    @property
    def fact_count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM facts").fetchone()[0])

    def _match(self, toks: list[str]) -> list[_Match]:
        """Alias matches in the tokens: exact n-grams, then difflib >= 0.85 on the rest."""
        found = [
            _Match(eid, w, i, j)
            for i in range(len(toks))
            for j in range(i + 1, min(len(toks), i + self._max_len) + 1)
            for eid, w in self._alias.get(" ".join(toks[i:j]), ())
        ]
        taken = {p for m in found for p in range(m.start, m.end)}
        matcher = difflib.SequenceMatcher(autojunk=False)
        for n in range(1, 5):
            for i in range(len(toks) - n + 1):
                gram = toks[i : i + n]
                if taken & set(range(i, i + n)) or {gram[0], gram[-1]} & (STOPWORDS | FILLERS):
                    continue
                text = "".join(gram)  # skip short, cue-only and likely truncated ("austra") n-grams
                if (
                    len(text) < 5
                    or text in self._prefixes
                    or {_root(w) for w in gram} <= self._cue_words
                ):
                    continue
                matcher.set_seq2(text)
                for size in range(int(len(text) * 0.74), int(len(text) / 0.74) + 1):
                    for flat, alias in self._by_len.get(size, ()):
                        matcher.set_seq1(flat)
                        if matcher.real_quick_ratio() < 0.85 or matcher.quick_ratio() < 0.85:
                            continue
                        ratio = matcher.ratio()
                        if ratio >= 0.85:
                            found += [
                                _Match(e, w * ratio * 0.97, i, i + n) for e, w in self._alias[alias]
                            ]
        found.sort(key=lambda m: (-(m.end - m.start), -m.score, m.start))
        kept: list[_Match] = []
        for m in found:  # longest first; a span may hold several same-named entities
            if all(
                (m.start, m.end) == (k.start, k.end) or m.end <= k.start or m.start >= k.end
                for k in kept
            ):
                kept.append(m)
        return kept

    def find_entities(self, text: str, limit: int = 3) -> list[tuple[EntityRow, float]]:
        """Entities named in ``text``, best (exact, longer) first."""
        best: dict[int, _Match] = {}
        for m in self._match(norm_tokens(text)):
            if m.entity_id not in best or m.score > best[m.entity_id].score:
                best[m.entity_id] = m
        ranked = sorted(best.values(), key=lambda m: (-m.score, m.start - m.end, -m.start))
        return [(self.entities[m.entity_id], round(m.score, 3)) for m in ranked[:limit]]

    def _attr_score(self, attr: str, seq: tuple[str, ...], years: bool) -> float:
        units, whole = self._cues[attr]
        whole_hit = _find(whole, seq)
        covered, matched, words, missing_year = set(whole_hit), 0, 0, False
        for unit, cues in units:
            hit = _find(cues, seq)
            covered |= hit
            matched += bool(hit)
            words += bool(hit) and not unit.isdigit()
            missing_year |= not hit and bool(_YEAR.match(unit))
        if whole_hit:
            matched = words = len(units)
        if not words or (missing_year and years):
            return 0.0
        return matched + matched / len(units) + 0.1 * len(covered)

    def parse(self, text: str) -> KgQuery | None:
        """(entity, attribute) asked about in ``text``, if both are there and the entity has it."""
        toks = norm_tokens(text)
        q_words = set(content_words(text))
        padded = f" {' '.join(toks)} "
        q_years = {t for t in toks if _YEAR.match(t)}
        how_many = " how many " in padded or " how much " in padded
        best: tuple[float, KgQuery] | None = None
        for m in self._match(toks):
            seq = _seq(toks[: m.start] + toks[m.end :])
            for attr, values in self._attrs.get(m.entity_id, {}).items():
                kept = [(v, w) for v, w in values if f" {v} " not in padded]  # asked, not given
                score = self._attr_score(attr, seq, bool(q_years)) if kept else 0.0
                if score <= 0:
                    continue
                numeric = kept[0][0][:1].isdigit()
                score += 0.5 * (how_many and numeric) - 0.5 * (toks[:1] == ["who"] and numeric)
                score += m.score + 0.02 * m.start / len(toks)
                score += 0.05 * _share(q_words, self._words[m.entity_id])
                score += 0.05 * max(_share(q_words, w) for _, w in kept)
                score -= 2.0 * bool(q_years and not q_years & self._words[m.entity_id])
                if best is None or score > best[0]:
                    row = self.entities[m.entity_id]
                    best = (score, KgQuery(row.name, attr, round(m.score, 3), row.id))
        return best[1] if best else None

    def kg_key(self, text: str) -> tuple[str, str] | None:
        """Normalized (entity, attribute) of a question, to compare two queries cheaply."""
        q = self.parse(text)
        return None if q is None else (norm(q.entity), q.attribute)

    def lookup(self, query: KgQuery) -> list[Fact]:
        """The facts for a parsed query (every value of a many-valued attribute)."""
        with self._lock:
            ids = (
                [query.entity_id]
                if query.entity_id is not None
                else [
                    r[0]
                    for r in self.conn.execute(
                        "SELECT entity_id FROM aliases WHERE alias_norm = ? ORDER BY weight DESC, entity_id",
                        (norm(query.entity),),
                    )
                ]
            )
            rows = [
                r
                for eid in ids
                for r in self.conn.execute(
                    "SELECT e.name, f.attribute, f.value, f.doc_id, f.sentence FROM facts f "
                    "JOIN entities e ON e.id = f.entity_id WHERE f.entity_id = ? AND f.attribute = ? "
                    "ORDER BY f.rowid",
                    (eid, query.attribute),
                )
            ]
        return [Fact(*r) for r in rows]

    def neighbors(self, entity: str | int) -> list[tuple[str, EntityRow]]:
        """Related entities: (attribute, target) for facts whose value is an entity, and
        (attribute + "_of", source) for facts pointing here."""
        with self._lock:
            ids = (
                [entity]
                if isinstance(entity, int)
                else [
                    r[0]
                    for r in self.conn.execute(
                        "SELECT entity_id FROM aliases WHERE alias_norm = ?", (norm(entity),)
                    )
                ]
            )
            out = [
                (a, t)
                for eid in ids
                for a, t in self.conn.execute(
                    "SELECT attribute, target_id FROM facts WHERE entity_id = ? AND target_id IS NOT NULL",
                    (eid,),
                )
            ]
            out += [
                (f"{a}_of", s)
                for eid in ids
                for a, s in self.conn.execute(
                    "SELECT attribute, entity_id FROM facts WHERE target_id = ?", (eid,)
                )
            ]
        return [(a, self.entities[t]) for a, t in out]


class KgTool:
    """Async knowledge-graph tool with a simulated latency and a deadline. Never raises."""

    name = "kg"

    def __init__(
        self,
        kg: KnowledgeGraph,
        docs_by_id: dict[str, Document],
        latency: LatencyProfile = LatencyProfile(),  # noqa: B008 (frozen)
        seed: int | None = None,
    ) -> None:
        self.kg = kg
        self.docs_by_id = docs_by_id
        self.latency = latency
        self._rng = random.Random(seed) if seed is not None else None

    def _resolve(self, text: str) -> tuple[KgQuery | None, list[Fact]]:
        q = self.kg.parse(text)
        return q, self.kg.lookup(q) if q else []

    async def _run(self, text: str) -> tuple[KgQuery | None, list[Fact]]:
        q, facts = await asyncio.to_thread(self._resolve, text)
        if q is not None:  # nothing parsed: no request to send, so no latency either
            await self.latency.wait(self._rng)
        return q, facts

    async def __call__(self, query_text: str, deadline_s: float = 3.0) -> SearchResult:
        t0 = time.perf_counter()
        try:
            q, facts = await asyncio.wait_for(self._run(query_text), deadline_s)
        except TimeoutError:
            return SearchResult(
                query_text, [], (time.perf_counter() - t0) * 1000, "deadline exceeded"
            )
        except Exception as exc:  # a broken tool degrades the answer, never the session
            log.exception("kg lookup failed")
            return SearchResult(query_text, [], (time.perf_counter() - t0) * 1000, str(exc))
        hits, seen = [], set()
        for f in facts:
            if (f.doc_id, f.sentence) in seen:
                continue
            seen.add((f.doc_id, f.sentence))
            src = self.docs_by_id.get(f.doc_id)
            doc = Document(
                id=f.doc_id,
                title=f.entity,
                text=f.sentence,
                url=src.url if src else "",
                domain=src.domain if src else "",
            )
            hits.append(Hit(doc=doc, score=1.0, snippet=f.sentence))
        meta = {"entity": q.entity, "attribute": q.attribute} if q else {}
        return SearchResult(query_text, hits, (time.perf_counter() - t0) * 1000, None, meta)
