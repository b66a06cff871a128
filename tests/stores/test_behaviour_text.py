"""Text every store takes alike, on every backend: NUL (U+0000) refused in what a caller names or looks up and
replaced in what a job says, one bound on a message's length, and search over params with their real characters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from jobdeck.core.errors import InvalidArgumentError
from jobdeck.core.model import MAX_MESSAGE_CHARS, JobStatus, MessageType
from jobdeck.stores import Store

MEGABYTE = 1 << 20

# (what is called, the argument the error must name)
NAMED: list[tuple[str, Callable[[Store, str], Any], str]] = [
    ("create: job_type", lambda s, j: s.create_job("a\x00b", "me"), "job_type"),
    ("create: author", lambda s, j: s.create_job("Import", "a\x00b"), "author"),
    ("create: params value", lambda s, j: s.create_job("Import", "me", {"rows": ["ok", "a\x00b"]}), "params"),
    ("create: params key", lambda s, j: s.create_job("Import", "me", {"a\x00b": 1}), "params"),
    ("create: owner", lambda s, j: s.create_job("Import", "me", owner="host:1:\x00"), "owner"),
    ("create: rerun_of", lambda s, j: s.create_job("Import", "me", rerun_of=j + "\x00"), "rerun_of"),
    ("active: job_type", lambda s, j: s.get_active_jobs("a\x00b"), "job_type"),
    ("past: job_type", lambda s, j: s.get_past_jobs("a\x00b"), "job_type"),
    ("past: job_types", lambda s, j: s.get_past_jobs(["Import", "a\x00b"]), "job_type"),
    ("search: q", lambda s, j: s.search_jobs("a\x00b"), "q"),
    ("search: job_type", lambda s, j: s.search_jobs("a", job_type="a\x00b"), "job_type"),
    ("read: id", lambda s, j: s.require_job(j + "\x00"), "id"),
    ("status: id", lambda s, j: s.get_status("a\x00b"), "id"),
    ("message: id", lambda s, j: s.add_info_message("a\x00b", "hello"), "id"),
    ("abort: by", lambda s, j: s.request_abort(j, "why", by="a\x00b"), "by"),
    ("heartbeat: owner", lambda s, j: s.heartbeat(j, "host:1:\x00"), "owner"),
    ("claim: name", lambda s, j: s.claim("notify:\x00"), "claim name"),
    ("cleanup: job_type", lambda s, j: s.cleanup_past_jobs("a\x00b"), "job_type"),
]


@pytest.mark.parametrize(("call", "argument"), [pytest.param(c, a, id=name) for name, c, a in NAMED])
def test_nul_in_what_a_caller_names_is_refused_naming_it(store: Store, call: Callable[[Store, str], Any],
                                                         argument: str) -> None:
    job = store.create_job("Import", "me", owner="host:1:abc")
    with pytest.raises(InvalidArgumentError) as refused:
        call(store, job.id)
    assert refused.value.argument == argument
    assert "NUL" in str(refused.value) and "\n" not in str(refused.value)
    # Nothing was stored, and the store goes on serving (a PostgreSQL connection is not left broken by it).
    assert [j.id for j in store.get_active_jobs(messages=False)] == [job.id]
    assert store.get_job("a\x00b") is None  # no job can have such an id: "not found", on every store
    assert store.get_status(job.id) is JobStatus.RUNNING
    assert store.add_info_message(job.id, "still fine") and store.complete_job(job.id, {"ok": True})
    assert store.require_job(job.id).info_messages[-1].message == "still fine"


def test_nul_in_what_a_job_says_is_replaced_and_the_outcome_kept(store: Store) -> None:
    job = store.create_job("Import", "me")
    assert store.add_info_message(job.id, "row\x001")
    assert store.add_message(job.id, MessageType.WARNING, "\x00")
    assert store.add_error_message(job.id, "bad \x00 byte")
    assert store.fail_job(job.id, "RuntimeError: x\x00y")
    failed = store.require_job(job.id)
    assert failed.status is JobStatus.FAILED
    assert [m.message for m in failed.info_messages] == ["row\ufffd1"]
    assert [m.message for m in failed.warning_messages] == ["\ufffd"]
    assert [m.message for m in failed.error_messages] == ["bad \ufffd byte", "RuntimeError: x\ufffdy"]

    aborted = store.create_job("Import", "me")
    assert store.request_abort(aborted.id, "stop\x00now", by="admin")
    assert store.mark_aborted(aborted.id)
    done = store.require_job(aborted.id)
    assert done.abort_reason == "stop\ufffdnow"
    assert done.warning_messages[0].message == "Abort requested by admin: stop\ufffdnow"

    queued = store.create_job("Import", "me", queued=True)
    assert store.fail_lost(queued.id, "lost\x00")
    assert store.require_job(queued.id).error_messages[-1].message == "lost\ufffd"

    # A result is JSON: NUL travels as the escape \u0000 and comes back as it went in, on every store.
    result = store.create_job("Import", "me")
    assert store.complete_job(result.id, {"text": "a\x00b"})
    assert store.require_job(result.id).result == {"text": "a\x00b"}


def _clipped(text: str, original: str) -> bool:
    return (len(text) == MAX_MESSAGE_CHARS and text.startswith(original[:MAX_MESSAGE_CHARS // 2])
            and text.endswith("characters cut]"))


def test_a_huge_message_is_stored_cut_with_a_marker(store: Store) -> None:
    huge = "0123456789abcdef" * (MEGABYTE // 16)
    job = store.create_job("Import", "me")
    for kind in MessageType:
        assert store.add_message(job.id, kind, huge)
    assert store.add_info_message(job.id, huge)
    assert store.add_warning_message(job.id, huge)
    assert store.fail_job(job.id, huge)
    failed = store.require_job(job.id)
    texts = [m.message for m in failed.all_messages()]
    assert len(texts) == 6 and all(_clipped(text, huge) for text in texts), [len(t) for t in texts]
    assert f"[... {MEGABYTE - MAX_MESSAGE_CHARS + len(f' [... {MEGABYTE} characters cut]')} characters cut]" \
        in texts[0]
    # The job's JSON stays small: six bounded messages, not six megabytes.
    assert len(orjson.dumps(failed.to_dict())) < 8 * MAX_MESSAGE_CHARS

    aborted = store.create_job("Import", "me")
    assert store.request_abort(aborted.id, huge, by="admin")
    asked = store.require_job(aborted.id)
    assert asked.abort_reason is not None and _clipped(asked.abort_reason, huge)
    said = asked.warning_messages[0].message
    assert len(said) == MAX_MESSAGE_CHARS and said.startswith("Abort requested by admin: 0123")

    queued = store.create_job("Import", "me", queued=True)
    assert store.fail_lost(queued.id, huge)
    assert _clipped(store.require_job(queued.id).error_messages[-1].message, huge)

    short = "x" * MAX_MESSAGE_CHARS  # at the bound: kept whole
    kept = store.create_job("Import", "me")
    assert store.add_info_message(kept.id, short)
    assert store.require_job(kept.id).info_messages[0].message == short


def test_search_matches_non_ascii_params_and_not_their_json_escapes(store: Store) -> None:
    vote = store.create_job("Poll", "maria", {"title": "Äänestys", "n": 3})
    city = store.create_job("Trip", "sam", {"to": "北京"})
    plain = store.create_job("Import", "bob", {"file": "orders.csv"})
    store.add_info_message(plain.id, "Loaded 37 rows")
    store.complete_job(vote.id)

    def ids(text: str) -> list[str]:
        return [job.id for job in store.search_jobs(text)]

    assert ids("änestys") == [vote.id]  # inside the word: the same letters, whatever the case folding
    if store.scheme != "sqlite":  # SQLite's LIKE folds the case of ASCII letters only (docs/search.md)
        assert ids("ÄÄNESTYS") == ids("äänestys") == [vote.id]
    assert ids("北京") == [city.id]
    assert ids("orders.csv") == [plain.id]
    # What an escape would have put in the stored text matches nothing.
    assert ids("\\") == []
    assert ids("u00") == []
    assert ids("u00c4") == []
    assert ids("u5317") == []
