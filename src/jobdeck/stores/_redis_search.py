"""The Redis store's search and id-prefix look-up (see stores/_search.py for what a match is), as a mixin.

Redis has no text index, so a word found only in a job's params or messages can only be found by looking at the
job. The search therefore works in two parts, each in the past list's order (newest ended first):

- **The newest** :data:`TEXT_WINDOW` **past jobs** (and every active job) are matched in full -- id prefix,
  author, params, messages -- 200 at a time: one ``ZREVRANGEBYSCORE`` and one script call that decides inside
  Redis which of them match (:data:`MATCH`; no job or message crosses the network), then one read of the heads
  that matched.
- **Older past jobs** are found through indexes only (``_redis_index``): a word matches them by id prefix
  (``P:ids``, ``ZRANGEBYLEX``) or author (``P:pauthor:<author>``, the authors that contain the word), not by
  params or messages. The index reads cost what they return.

So a search costs at most a pass over :data:`TEXT_WINDOW` jobs plus what the indexes return, whatever the size
of the history; the price is that a word found only in the params or messages of a job older than the newest
:data:`TEXT_WINDOW` past jobs does not find it (docs/performance.md, section ``history100k``). Searches without
words look at each job's fields inside Redis, from the cursor on, until the page is full: along the jobs of the
one status asked (``P:pstatus:<status>``), else of the type asked, else of every type -- so a type, schedule or
signature filter that matches few of those jobs still passes over many.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from ..core.model import TERMINAL, JobInfo
from ._search import SearchQuery

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["TEXT_WINDOW", "RedisSearchSteps"]

# Past jobs (the newest) whose params and messages a search looks at. Sized so that a search whose words match
# nothing in them answers in tens of milliseconds on a small shared machine (2 x 5 round trips, ~17 us a job
# inside Redis: ~20 ms in all); and the history100k rows compare with 1,000 jobs, where it looks at all of them.
TEXT_WINDOW = 1000
_PAGE = 200
_KINDS = ("info", "warning", "error")
_FIELDS = ("status", "type", "author", "params", "sched", "sig")
Place = tuple[float, str]  # (end time, id): a past job's place in the past list

# Which of the given jobs match, decided inside Redis for ASCII words (see _verdicts). ARGV: prefix, word count,
# words (lower case), ",status,status," ('' = any), type, schedule id, signature (each "\0" = any), ids...
# -> per id: 1 matches, 0 does not (or is gone), 2 undecided (a word missed in a text with non-ASCII bytes).
# string.lower leaves non-ASCII bytes alone: an ASCII word found in the lowered text is found by Python too,
# but one missed may be in Python's lowered text (KELVIN SIGN lowers to "k").
MATCH = """
local prefix, nw = ARGV[1], tonumber(ARGV[2])
local st, ty, sched, sig = ARGV[3 + nw], ARGV[4 + nw], ARGV[5 + nw], ARGV[6 + nw]
local out = {}
local function wide(text) return text and string.find(text, '[\\128-\\255]') ~= nil end
for i = 7 + nw, #ARGV do
  local id = ARGV[i]
  local h = redis.call('HMGET', prefix .. ':job:' .. id, 'status', 'type', 'author', 'params', 'sched', 'sig')
  local mark = 0
  if h[1] and (st == '' or string.find(st, ',' .. h[1] .. ',', 1, true))
     and (ty == '\\0' or h[2] == ty) and (sched == '\\0' or h[5] == sched) and (sig == '\\0' or h[6] == sig) then
    mark = 1
    local author, params = string.lower(h[3] or ''), string.lower(h[4] or 'null')
    local head_wide = wide(h[3]) or wide(h[4])
    local texts, texts_wide = nil, false
    for w = 1, nw do
      local word = ARGV[2 + w]
      if string.sub(id, 1, #word) ~= word and not string.find(author, word, 1, true)
         and not string.find(params, word, 1, true) then
        if not texts then
          texts = {}
          for _, kind in ipairs({'info', 'warning', 'error'}) do
            for _, entry in ipairs(redis.call('LRANGE', prefix .. ':msgs:' .. id .. ':' .. kind, 0, -1)) do
              local text = cjson.decode(entry)[1]
              texts_wide = texts_wide or wide(text)
              texts[#texts + 1] = string.lower(text)
            end
          end
        end
        local found = false
        for _, text in ipairs(texts) do
          if string.find(text, word, 1, true) then found = true; break end
        end
        if not found then
          if head_wide or texts_wide then mark = 2 else mark = 0; break end
        end
      end
    end
  end
  out[#out + 1] = mark
end
return out
"""


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _filters_pass(query: SearchQuery, f: dict[str, str | None]) -> bool:
    """Whether a job's fields (``_FIELDS``; None: the job is gone) pass the query's filters (not its words)."""
    return (f.get("status") is not None
            and (query.statuses is None or any(f["status"] == s.value for s in query.statuses))
            and (query.job_type is None or f.get("type") == query.job_type)
            and (query.schedule_id is None or f.get("sched") == query.schedule_id)
            and (query.signature is None or f.get("sig") == query.signature))


class RedisSearchSteps:
    """``_find_ids`` through ``P:ids``; ``_search`` as the module docstring says."""

    def _find_ids(self, prefix: str, limit: int) -> list[str]:
        store = cast("RedisStore", self)
        store._catch_up()
        store._ensure_index()
        with store._errors():
            found = store._redis.zrangebylex(store._set_key("ids"), f"[{prefix}", f"[{prefix}\xff", start=0,
                                             num=limit)
        return [_text(job_id) for job_id in found]

    def _search(self, query: SearchQuery) -> list[JobInfo]:
        store = cast("RedisStore", self)
        store._catch_up()
        store._ensure_index()
        out: list[JobInfo] = []
        if query.wants_active():
            heads = list(reversed(store._query_active(query.job_type, 0)))
            keep = self._verdicts(query, [j.id for j in heads])
            out += [j for j in heads if j.id in keep]
        if query.wants_past():
            out += self._search_past(query)
        return out

    # ------------------------------------------------------------------ matching

    def _verdicts(self, query: SearchQuery, ids: list[str]) -> set[str]:
        """The ids that match the query (filters and words). One script call decides inside Redis (no job or
        message crosses the network) when every word is ASCII; the jobs it cannot decide exactly -- a word missed
        in a text holding non-ASCII characters, which Python's ``lower()`` may turn into ASCII ones -- and every
        job when a word is not ASCII are matched here as the other stores match them (:meth:`_matching`)."""
        if not ids:
            return set()
        store = cast("RedisStore", self)
        unsure = ids
        hits: set[str] = set()
        if all(word.isascii() for word in query.words):
            any_ = "\0"
            statuses = "," + ",".join(s.value for s in query.statuses) + "," if query.statuses is not None else ""
            with store._errors():
                marks = store._redis.register_script(MATCH)(args=[
                    store.prefix, len(query.words), *query.words, statuses,
                    any_ if query.job_type is None else query.job_type,
                    any_ if query.schedule_id is None else query.schedule_id,
                    any_ if query.signature is None else query.signature, *ids])
            hits = {job_id for job_id, mark in zip(ids, marks, strict=True) if mark == 1}
            unsure = [job_id for job_id, mark in zip(ids, marks, strict=True) if mark == 2]
        if unsure:
            with store._errors():
                pipe = store._redis.pipeline(transaction=False)
                for job_id in unsure:
                    pipe.hmget(store._job_key(job_id), _FIELDS)
                fields = pipe.execute()
            hits |= self._matching(query, [(job_id, dict(zip(_FIELDS, values, strict=True)))
                                           for job_id, values in zip(unsure, fields, strict=True)])
        return hits

    def _matching(self, query: SearchQuery, rows: list[tuple[str, dict[str, str | None]]]) -> set[str]:
        """The ids among ``rows`` (id, fields) that match, decided here: filters and words on the fields (the
        params as stored: the text the SQL stores match), then the words the fields missed in the job's messages
        (one pipeline for all of them)."""
        store = cast("RedisStore", self)
        hits: set[str] = set()
        misses: dict[str, list[str]] = {}
        for job_id, f in rows:
            if not _filters_pass(query, f):
                continue
            author, params = (f.get("author") or "").lower(), (f.get("params") or "null").lower()
            missing = [w for w in query.words if not (job_id.startswith(w) or w in author or w in params)]
            if missing:
                misses[job_id] = missing
            else:
                hits.add(job_id)
        if misses:
            with store._errors():
                pipe = store._redis.pipeline(transaction=False)  # past jobs no longer change; active ones only grow
                for job_id in misses:
                    for kind in _KINDS:
                        pipe.lrange(f"{store.prefix}:msgs:{job_id}:{kind}", 0, -1)
                replies = pipe.execute()
            for n, (job_id, missing) in enumerate(misses.items()):
                texts = [json.loads(e)[0].lower() for k in range(3) for e in replies[3 * n + k]]
                if all(any(w in t for t in texts) for w in missing):
                    hits.add(job_id)
        return hits

    def _search_past(self, query: SearchQuery) -> list[JobInfo]:
        store = cast("RedisStore", self)
        statuses = frozenset(query.statuses & TERMINAL) if query.statuses is not None else None
        if statuses is not None and not statuses:
            return []
        # One terminal status asked: its own sorted set holds the same places, without the jobs of the others.
        key = (store._set_key("pstatus", next(iter(statuses)).value) if statuses is not None and len(statuses) == 1
               else store._set_key("past", query.job_type))
        # The full match covers the newest TEXT_WINDOW past jobs (of any type); a search without words has no
        # text to match and pages through every job.
        floor: Place | None = None
        if query.words:
            with store._errors():
                edge = store._redis.zrevrange(store._set_key("past"), TEXT_WINDOW - 1, TEXT_WINDOW - 1,
                                              withscores=True)
            floor = (float(edge[0][1]), _text(edge[0][0])) if edge else None
        top: Place | None = (query.before.end_time, query.before.id) if query.before is not None else None
        found: list[str] = []
        # Each page starts at the last one's score, skipping the entries with that score already seen: an offset
        # into the whole range would cost Redis a walk over every entry before it.
        high, offset = ("+inf" if top is None else repr(top[0])), 0
        low = "-inf" if floor is None else repr(floor[0])
        while len(found) < query.limit:
            with store._errors():
                entries = store._redis.zrevrangebyscore(key, high, low, start=offset, num=_PAGE, withscores=True)
            places = [(float(end), _text(job_id)) for job_id, end in entries]
            if places:
                last = repr(places[-1][0])
                offset = sum(p[0] == places[-1][0] for p in places) + (offset if last == high else 0)
                high = last
            places = [p for p in places if (top is None or p < top) and (floor is None or p >= floor)]
            if places:
                hits = self._verdicts(query, [job_id for _, job_id in places])
                found += [job_id for _, job_id in places if job_id in hits][:query.limit - len(found)]
            if len(entries) < _PAGE:
                break
        if len(found) < query.limit and floor is not None:
            bound = floor if top is None or floor < top else top
            found += self._indexed_past(query, bound, query.limit - len(found))
        with store._errors():
            jobs = {j.id: j for j in store._read_many(found, 0)}
        return [jobs[job_id] for job_id in found if job_id in jobs]

    # ------------------------------------------------------------------ beyond the window: indexes only

    def _indexed_past(self, query: SearchQuery, bound: Place, limit: int) -> list[str]:
        """Up to ``limit`` ids of past jobs placed before ``bound`` that every word matches by id prefix or
        author (and the filters), newest first: candidates of the word with the fewest authors, merged from
        the id index and those authors' past lists."""
        store = cast("RedisStore", self)
        with store._errors():
            authors = [_text(a) for a in store._redis.hkeys(store._set_key("authors"))]
        word = min(query.words, key=lambda w: (sum(w in a.lower() for a in authors), -len(w)))
        sources = [self._author_places(a, bound) for a in authors if word in a.lower()]
        sources.append(iter(self._id_places(word, bound)))
        merged = heapq.merge(*sources, reverse=True)
        found: list[str] = []
        seen: set[str] = set()
        while len(found) < limit:
            batch = []
            for place in merged:
                if place[1] not in seen:
                    seen.add(place[1])
                    batch.append(place[1])
                    if len(batch) >= _PAGE:
                        break
            if not batch:
                break
            with store._errors():
                pipe = store._redis.pipeline(transaction=False)
                for job_id in batch:
                    pipe.hmget(store._job_key(job_id), _FIELDS)
                fields = pipe.execute()
            for job_id, values in zip(batch, fields, strict=True):
                f = dict(zip(_FIELDS, values, strict=True))
                author = (f["author"] or "").lower()
                if _filters_pass(query, f) and all(job_id.startswith(w) or w in author for w in query.words):
                    found.append(job_id)
                    if len(found) >= limit:
                        break
        return found

    def _author_places(self, author: str, bound: Place) -> Iterator[Place]:
        """The author's past jobs placed before ``bound``, newest first, read ``_PAGE`` at a time."""
        store = cast("RedisStore", self)
        offset = 0
        while True:
            with store._errors():
                entries = store._redis.zrevrangebyscore(f"{store.prefix}:pauthor:{author}", repr(bound[0]), "-inf",
                                                        start=offset, num=_PAGE, withscores=True)
            offset += len(entries)
            for job_id, end in entries:
                place = (float(end), _text(job_id))
                if place < bound:
                    yield place
            if len(entries) < _PAGE:
                return

    def _id_places(self, word: str, bound: Place) -> list[Place]:
        """The past jobs whose id starts with ``word``, placed before ``bound``, newest first."""
        store = cast("RedisStore", self)
        with store._errors():
            ids = [_text(i) for i in store._redis.zrangebylex(store._set_key("ids"), f"[{word}", f"[{word}\xff")]
            ends = store._redis.zmscore(store._set_key("past"), ids) if ids else []  # type: ignore[no-untyped-call]
        places = [(float(end), job_id) for job_id, end in zip(ids, ends, strict=True) if end is not None]
        return sorted((p for p in places if p < bound), reverse=True)
