"""The reflector (pure): at end of turn, which speculative calls already answer the final query.

- ``reflect``: the earliest single call that suffices: an equal key (the same normalized query,
  or for an exact tool such as the knowledge graph the same entity and attribute), or, for a
  ranked tool with a local ranking (search over our own corpus), the same top-k documents
  (``top_ids``; callers pass it only for ranked tools). A sufficient call whose result is
  already in hand goes before an earlier one still out: the user would wait for that one.
- ``covering``: otherwise (ranked tools), the earliest calls whose documents *together* hold the final query's
  top-k: "much federal" and "federal cut interest rates" fired while the user spoke may already
  have fetched every document "federal reserve cut interest rates september 2024" ranks first.
  The answer then gets exactly those documents, in the final query's order (``keep``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tools.result import Hit

TopIds = Callable[[str], tuple[str, ...]]  # a query's top-k document ids from the local index


@dataclass(frozen=True)
class CallView:
    """What the reflector needs to know about a cached call."""

    id: str
    tool: str
    query: str
    key: str
    audio_ms: int
    ok: bool  # finished with results, or still running (not cancelled, not failed)
    done: bool = False  # its result is in hand


def usable(tool: str, calls: list[CallView]) -> list[CallView]:
    """The calls of ``tool`` that may still count (done with results, or running), earliest first."""
    return sorted((c for c in calls if c.tool == tool and c.ok), key=lambda c: c.audio_ms)


def reflect(
    tool: str,
    final_query: str,
    final_key: str,
    calls: list[CallView],
    top_ids: TopIds | None = None,
) -> CallView | None:
    """The earliest call of ``tool`` sufficient for the final query whose result is in hand,
    else the earliest still running, or None."""
    wanted = top_ids(final_query) if top_ids is not None else ()
    running = None
    for call in usable(tool, calls):
        if call.key == final_key or (
            wanted and top_ids is not None and top_ids(call.query) == wanted
        ):
            if call.done:
                return call
            running = running or call
    return running


def covering(
    tool: str, final_query: str, calls: list[CallView], top_ids: TopIds
) -> list[CallView] | None:
    """The earliest calls of ``tool`` that between them fetch every one of the final query's top-k
    documents (each call kept only if it adds one), or None when no set of calls does."""
    wanted = set(top_ids(final_query))
    if not wanted:
        return None
    have: set[str] = set()
    picked: list[CallView] = []
    for call in usable(tool, calls):
        new = (set(top_ids(call.query)) & wanted) - have
        if new:
            picked.append(call)
            have |= new
            if have == wanted:
                return picked
    return None


def choose(
    tool: str,
    final_query: str,
    final_key: str,
    calls: list[CallView],
    top_ids: TopIds | None = None,
) -> list[CallView]:
    """``reflect``'s call, else (with a local ranking) ``covering``'s calls, else []."""
    single = reflect(tool, final_query, final_key, calls, top_ids)
    if single is not None:
        return [single]
    if top_ids is not None:
        return covering(tool, final_query, calls, top_ids) or []
    return []


def restrict(hits: list[Hit], keep: tuple[str, ...] | None) -> list[Hit]:
    """``hits`` cut to the documents in ``keep``, in its order, one hit each (None: all)."""
    if keep is None:
        return hits
    rank = {doc_id: i for i, doc_id in enumerate(keep)}
    first: dict[str, Hit] = {}
    for hit in hits:
        if hit.doc.id in rank:
            first.setdefault(hit.doc.id, hit)
    return [first[d] for d in sorted(first, key=rank.__getitem__)]
