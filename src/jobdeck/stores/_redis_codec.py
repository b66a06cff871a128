"""How the Redis store writes jobs and events as Redis strings: hash fields, stream entries, stream ids.

Floats are written with ``repr`` (which round-trips exactly), params/results/operations as JSON; a field that is
None is absent from the hash. Nothing is pickled.
"""

from __future__ import annotations

import json
import re

from ..core.errors import StoreError
from ..core.events import EventType, JobEvent, progress_data
from ..core.jsoncodec import dumps_text, loads_event_data, loads_stored
from ..core.model import JobInfo, JobStatus, OperationRef
from ..core.usage import Usage

__all__ = ["STREAM_ID", "decode_job", "encode_job", "event_from_entry", "parse_id", "parse_id_strict"]

STREAM_ID = re.compile(r"^(\d+)-(\d+)$")



_FLOATS = {"progress": "progress", "start_time": "start", "end_time": "end", "last_activity_time": "activity",
           "heartbeat_time": "hb", "abort_time": "atime", "queued_time": "qtime",
           "retry_at": "retry", "run_at": "runat"}


def encode_job(job: JobInfo) -> tuple[dict[str, str], list[str]]:
    """The head as hash fields (floats as repr, which round-trips exactly), and the fields that are None."""
    fields: dict[str, str] = {"id": job.id, "type": job.job_type, "author": job.author, "status": job.status.value,
                              "params": dumps_text(job.params), "result": dumps_text(job.result)}
    gone: list[str] = []
    for attr, name in _FLOATS.items():
        value = getattr(job, attr)
        if value is None:
            gone.append(name)
        else:
            fields[name] = repr(float(value))
    optional = {"op": dumps_text(job.current_operation.to_dict()) if job.current_operation else None,
                "owner": job.owner, "rerun": job.rerun_of,
                "areason": dumps_text(job.abort_reason) if job.abort_reason is not None else None,
                "aby": job.aborted_by, "attempt": str(job.attempt) if job.attempt != 1 else None,
                "maxatt": str(job.max_attempts) if job.max_attempts != 1 else None, "resumed": job.resumed_from,
                "sched": job.schedule_id, "sig": job.signature,
                "usage": job.usage.to_json() if job.usage is not None else None}
    for name, text in optional.items():
        if text is None:
            gone.append(name)
        else:
            fields[name] = text
    return fields, gone


def decode_job(h: dict[str, str]) -> JobInfo:
    def num(name: str) -> float | None:
        return float(h[name]) if name in h else None

    return JobInfo(
        id=h["id"], job_type=h["type"], author=h["author"], status=JobStatus(h["status"]),
        progress=float(h.get("progress", 0.0)), start_time=float(h["start"]), end_time=num("end"),
        last_activity_time=float(h["activity"]), params=loads_stored(h.get("params", "null")),
        result=loads_stored(h.get("result", "null")),
        current_operation=OperationRef.from_dict(json.loads(h["op"])) if h.get("op") else None,
        owner=h.get("owner"), heartbeat_time=num("hb"),
        abort_reason=json.loads(h["areason"]) if "areason" in h else None, abort_time=num("atime"),
        rerun_of=h.get("rerun"),
        aborted_by=h.get("aby"),
        queued_time=num("qtime"),
        attempt=int(h.get("attempt", 1)),
        max_attempts=int(h.get("maxatt", 1)),
        retry_at=num("retry"),
        resumed_from=h.get("resumed"),
        schedule_id=h.get("sched"),
        run_at=num("runat"),
        signature=h.get("sig"),
        usage=Usage.from_stored(h.get("usage")),
    )


def event_from_entry(eid: str, fields: dict[str, str]) -> JobEvent:
    kind = EventType(fields["t"])
    if kind is EventType.PROGRESS:
        op = fields.get("o")
        data = progress_data(float(fields["p"]), float(fields["a"]),
                             OperationRef.from_dict(json.loads(op)) if op else None)
    else:
        data = loads_event_data(fields.get("d", "{}"))
    return JobEvent(eid, kind, fields["j"], data)


def parse_id(text: str) -> tuple[int, int] | None:
    match = STREAM_ID.match(text)
    return (int(match[1]), int(match[2])) if match else None


def parse_id_strict(text: str) -> tuple[int, int]:
    parsed = parse_id(text)
    if parsed is None:
        raise StoreError(f"unexpected Redis stream id {text!r}")
    return parsed
