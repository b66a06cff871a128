"""The ``Client``: one method per endpoint of the jobdeck HTTP API, errors as ``ClientError``."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from ..core.errors import ClientError, InvalidArgumentError
from ..core.events import EventType
from ..core.model import TERMINAL, JobInfo, format_time
from ._schedules import ScheduleCalls
from ._stream import EventStream, StreamReset

__all__ = ["DEFAULT_PREFIX", "DEFAULT_URL", "Client"]

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_PREFIX = "/api/admin/jobs"

Messages = int | str | None


def _iso(when: datetime | float) -> str:
    """An aware datetime or POSIX seconds as the API's ISO time; a naive datetime is refused (which zone?)."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise InvalidArgumentError(f"run_at must be an aware datetime (give it a tzinfo), got {when!r}")
        seconds = when.timestamp()
    elif isinstance(when, bool) or not isinstance(when, int | float):
        raise InvalidArgumentError(f"run_at must be a datetime or POSIX seconds, got {when!r}")
    else:
        seconds = float(when)
    text = format_time(seconds) if math.isfinite(seconds) else None
    if text is None:
        raise InvalidArgumentError(f"run_at must be a finite time, got {when!r}")
    return text


def _messages_param(messages: Messages) -> str:
    """None -> all, 0 -> none, N -> last:N; the API's own strings pass through."""
    if messages is None:
        return "all"
    if isinstance(messages, bool) or not isinstance(messages, int | str):
        raise InvalidArgumentError(f"messages must be None, an int or 'all'/'none'/'last:N', got {messages!r}")
    if isinstance(messages, int):
        if messages < 0:
            raise InvalidArgumentError(f"messages must not be negative, got {messages}")
        return "none" if messages == 0 else f"last:{messages}"
    return messages


class Client(ScheduleCalls):
    """The jobdeck HTTP API as Python calls; a context manager that closes its connection pool.

    ``base_url`` is the server root (``http://host:port``); ``prefix`` is where the job API is mounted.
    ``timeout`` bounds connecting and each ordinary request, in seconds. ``language`` (``"fi"``), when given,
    is sent as ``Accept-Language``: the server then answers with job-type titles and parameter labels in it.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        token: str | None = None,
        timeout: float = 10.0,
        *,
        prefix: str = DEFAULT_PREFIX,
        transport: httpx.BaseTransport | None = None,
        language: str | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ClientError(f"invalid jobdeck URL {base_url!r}: expected http://host:port or https://host:port")
        self.base_url = str(base_url).rstrip("/")
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.timeout = timeout
        headers = {"Accept": "application/json", "User-Agent": "jobdeck-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if language:
            headers["Accept-Language"] = language
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:  # the token stays out on purpose
        return f"Client({self.base_url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; open event streams end with it."""
        self._http.close()

    # ------------------------------------------------------------------ plumbing

    def _path(self, path: str) -> str:
        return f"{self.prefix}{path}"

    def unreachable(self, exc: httpx.TransportError) -> ClientError:
        """One line for a transport failure: where we tried to go and why it failed."""
        if isinstance(exc, httpx.TimeoutException):
            why = f"timed out after {self.timeout:g}s"
        elif isinstance(exc, httpx.ConnectError):
            text = str(exc).lower()
            why = "connection refused" if "refused" in text or "errno 111" in text else (str(exc) or "cannot connect")
        else:
            why = str(exc) or type(exc).__name__
        return ClientError(f"cannot reach jobdeck at {self.base_url}: {why}")

    @staticmethod
    def error_from(response: httpx.Response) -> ClientError:
        """The server's ``{"error": ...}`` text (or a short summary of a non-JSON answer) with the status."""
        message = ""
        try:
            body = response.json()
            if isinstance(body, dict) and body.get("error") is not None:
                message = str(body["error"])
            elif isinstance(body, dict) and body.get("detail") is not None:
                message = str(body["detail"])
        except (json.JSONDecodeError, UnicodeDecodeError):
            message = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        if not message:
            message = response.reason_phrase or "error"
        return ClientError(f"{message} (HTTP {response.status_code})", response.status_code)

    def _request(self, method: str, path: str, *, under_prefix: bool = True, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, self._path(path) if under_prefix else path, **kwargs)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        if response.status_code >= 400:
            raise self.error_from(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ClientError(
                f"jobdeck at {self.base_url} answered {method} {path} with something that is not JSON",
                response.status_code,
            ) from None

    @staticmethod
    def _job_path(job_id: str, tail: str) -> str:
        return f"/single/{quote(str(job_id), safe='')}/{tail}"

    # ------------------------------------------------------------------ endpoints

    def healthz(self) -> dict[str, Any]:
        """``GET /healthz`` (outside the API prefix, no auth)."""
        result: dict[str, Any] = self._request("GET", "/healthz", under_prefix=False).json()
        return result

    def active(self, job_type: str | None = None, messages: Messages = None) -> list[JobInfo]:
        """Active jobs (queued, running or aborting), with all messages unless ``messages`` says otherwise."""
        params: dict[str, str] = {"messages": _messages_param(messages)}
        if job_type:
            params["jobType"] = job_type
        return [JobInfo.from_dict(item) for item in self._json("GET", "/active", params=params)]

    def past_page(
        self,
        job_type: str | None = None,
        statuses: Sequence[str] | None = None,
        start_from: str | None = None,
        messages: Messages = None,
        limit: int | None = None,
    ) -> tuple[list[JobInfo], str | None]:
        """Past jobs, newest ended first, and the cursor to pass as ``start_from`` next time."""
        jobs, headers = self._past(job_type, statuses, messages, startFrom=start_from,
                                   limit=None if limit is None else str(limit))
        return jobs, headers.get("X-Jobdeck-Cursor")

    def past_chunk(
        self,
        job_type: str | None = None,
        statuses: Sequence[str] | None = None,
        *,
        messages: Messages = 0,
        limit: int = 100,
        before: str | None = None,
    ) -> tuple[list[JobInfo], str | None]:
        """One page of past jobs, newest ended first, and the cursor of the next page (None after the last):
        pass it as ``before`` to continue. Each page costs the same, however deep in the history."""
        jobs, headers = self._past(job_type, statuses, messages, limit=str(limit), before=before)
        return jobs, headers.get("X-Jobdeck-Next")

    def _past(self, job_type: str | None, statuses: Sequence[str] | None, messages: Messages,
              **paging: str | None) -> tuple[list[JobInfo], httpx.Headers]:
        """``GET /past`` with the filters and the paging parameters that are set; the jobs and the headers
        (where the cursors are)."""
        params: list[tuple[str, str]] = [("messages", _messages_param(messages))]
        if job_type:
            params.append(("jobType", job_type))
        params.extend(("statuses", str(status)) for status in statuses or ())
        params.extend((name, value) for name, value in paging.items() if value)
        response = self._request("GET", "/past", params=params)
        return [JobInfo.from_dict(item) for item in response.json()], response.headers

    def iter_past(
        self,
        job_type: str | None = None,
        statuses: Sequence[str] | None = None,
        *,
        messages: Messages = 0,
        page_size: int = 100,
    ) -> Iterator[JobInfo]:
        """Every past job, newest ended first, fetched ``page_size`` at a time with the ``before`` cursor."""
        before: str | None = None
        while True:
            jobs, before = self.past_chunk(job_type, statuses, messages=messages, limit=page_size, before=before)
            yield from jobs
            if before is None:
                return

    def past(
        self,
        job_type: str | None = None,
        statuses: Sequence[str] | None = None,
        start_from: str | None = None,
        messages: Messages = None,
        limit: int | None = None,
    ) -> list[JobInfo]:
        """Past jobs, newest ended first (see :meth:`past_page` for the incremental cursor)."""
        return self.past_page(job_type, statuses, start_from, messages, limit)[0]

    def start(self, job_type: str, params: Mapping[str, Any] | None = None, author: str | None = None, *,
              run_at: datetime | float | None = None) -> JobInfo:
        """Start a job of a registered type; 404 unknown type, 409 too many active, 400 bad params.

        With ``run_at`` (an aware datetime or POSIX seconds) the job waits ``queued`` until then, with ``run_at``
        set; aborting it before then ends it ``aborted``."""
        return JobInfo.from_dict(self._start(job_type, params, author, run_at))

    def _start(self, job_type: str, params: Mapping[str, Any] | None, author: str | None,
               run_at: datetime | float | None = None) -> Any:
        body: dict[str, Any] = {"jobType": job_type}
        if author is not None:
            body["author"] = author
        if params is not None:
            body["params"] = dict(params)
        if run_at is not None:
            body["runAt"] = _iso(run_at)
        return self._json("POST", "/start", json=body)

    def resolve_id(self, id_or_prefix: str) -> str:
        """The full id for a unique prefix of at least 6 characters (a full id is returned as it is);
        404 none, 400 too short or ambiguous (the message lists the candidates)."""
        text = str(id_or_prefix).strip()
        try:
            return str(uuid.UUID(text))
        except ValueError:
            pass
        found: str = self._json("GET", "/lookup", params={"id": text})["id"]
        return found

    def search(self, text: str | None = None, *, job_type: str | None = None, statuses: Sequence[str] = (),
               limit: int = 50, before: str | None = None, schedule_id: str | None = None) -> dict[str, Any]:
        """``{"jobs": [...], "next": cursor | None}``: jobs whose id, author, params or messages match every
        word of ``text`` (and, with ``schedule_id``, that this schedule started); active first, then past ones
        newest ended first (``before=next`` continues)."""
        params: list[tuple[str, str]] = [("limit", str(limit))]
        if schedule_id:
            params.append(("scheduleId", schedule_id))
        if text:
            params.append(("q", text))
        if job_type:
            params.append(("jobType", job_type))
        params.extend(("status", str(s)) for s in statuses)
        if before:
            params.append(("before", before))
        page: dict[str, Any] = self._json("GET", "/search", params=params)
        return page

    def failures(self, since: str | None = None, job_type: str | None = None, *, limit: int = 50,
                 ids: int = 20) -> list[dict[str, Any]]:
        """Failed jobs grouped by cause, newest group first: ``[{"signature", "message", "count", "firstSeen",
        "lastSeen", "jobTypes", "jobIds"}]`` (``since``: an ISO time)."""
        params: dict[str, str] = {"limit": str(limit), "ids": str(ids)}
        if since:
            params["since"] = since
        if job_type:
            params["jobType"] = job_type
        groups: list[dict[str, Any]] = self._json("GET", "/failures", params=params)
        return groups

    def bulk(self, action: str, *, ids: Sequence[str] | None = None, filter: Mapping[str, Any] | None = None,
             dry_run: bool = False) -> dict[str, Any]:
        """One action (``abort``, ``rerun``, ``resume``, ``delete``) for the jobs ``ids`` or those ``filter``
        matches (``{"q", "jobType", "status": [...], "signature"}``). ``dry_run``: ``{"count", "ids", "leftOut",
        "leftOutSample"}``, nothing done; else ``{"jobId", "count", "leftOut"}``: the bulk job doing it."""
        body: dict[str, Any] = {"action": action, "dryRun": dry_run}
        if ids is not None:
            body["ids"] = list(ids)
        if filter is not None:
            body["filter"] = dict(filter)
        answer: dict[str, Any] = self._json("POST", "/bulk", json=body)
        return answer

    def rerun(self, job_id: str, params: Mapping[str, Any] | None = None, author: str | None = None) -> JobInfo:
        """Start a new job with ``job_id``'s type and params (``params`` replaces some); its ``rerun_of`` is
        ``job_id``. 404 unknown job, 409 the type's limit, 400 params that do not fit."""
        return JobInfo.from_dict(self._rerun(job_id, params, author))

    def _rerun(self, job_id: str, params: Mapping[str, Any] | None, author: str | None) -> Any:
        body: dict[str, Any] = {}
        if params:
            body["params"] = dict(params)
        if author is not None:
            body["author"] = author
        return self._json("POST", self._job_path(job_id, "rerun"), json=body)

    def resume(self, job_id: str, author: str | None = None) -> JobInfo:
        """Resume a failed or aborted job: a new job of its type and params (``rerun_of`` and ``resumed_from`` are
        ``job_id``) that takes over its saved values and done operations, so that it does again only what was not
        done; the old job stays as it was. 404 unknown job, 409 a job still active (or completed) or the type's
        limit. See :meth:`resume_answer` for the report token of an external type and the server's note."""
        return JobInfo.from_dict(self.resume_answer(job_id, author))

    def resume_answer(self, job_id: str, author: str | None = None) -> dict[str, Any]:
        """:meth:`resume`, answered as the server sends it: the new job's JSON, with ``reportToken`` for a job of
        an external type (as :meth:`start_external`) and ``note`` when the old job left nothing to take over
        (the new job then starts from the beginning)."""
        body: dict[str, Any] = {} if author is None else {"author": author}
        answer: dict[str, Any] = self._json("POST", self._job_path(job_id, "resume"), json=body)
        return answer

    def start_external(self, job_type: str, params: Mapping[str, Any] | None = None, author: str | None = None,
                       ) -> tuple[JobInfo, str]:
        """Start a job of an external type: the job and its report token, for the process that will run it
        (``RemoteController(job.id, url, token)``). ClientError if the type is not external."""
        return self._with_report_token(self._start(job_type, params, author))

    def rerun_external(self, job_id: str, params: Mapping[str, Any] | None = None, author: str | None = None,
                       ) -> tuple[JobInfo, str]:
        """:meth:`rerun` for a job of an external type: the new job and its report token (as
        :meth:`start_external`). ClientError if the type is not external."""
        return self._with_report_token(self._rerun(job_id, params, author))

    @staticmethod
    def _with_report_token(answer: Any) -> tuple[JobInfo, str]:
        token = answer.get("reportToken") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            job_id = answer.get("id") if isinstance(answer, dict) else "?"
            job_type = answer.get("jobType") if isinstance(answer, dict) else "?"
            raise ClientError(f"job type {job_type!r} is not external: its jobs run on the server and take no "
                              f"report token (job {job_id} started)")
        return JobInfo.from_dict(answer), token

    def job(self, job_id: str, messages: Messages = None) -> JobInfo:
        """One job (active or past) with its messages; 404 when unknown."""
        data = self._json("GET", self._job_path(job_id, "progress"), params={"messages": _messages_param(messages)})
        return JobInfo.from_dict(data)

    def messages(self, job_id: str, since: str | None = None, limit: int | None = None) -> dict[str, Any]:
        """``{"messages": [...], "next": ISO | None}``: the job's messages merged, oldest first."""
        params: dict[str, str] = {}
        if since:
            params["since"] = since
        if limit is not None:
            params["limit"] = str(limit)
        result: dict[str, Any] = self._json("GET", self._job_path(job_id, "messages"), params=params)
        return result

    def abort(self, job_id: str, reason: str | None = None) -> dict[str, Any]:
        """Ask one job to abort; 404 unknown. Idempotent: a job that already ended is no error.

        Returns ``{"message", "jobId", "status"}``: ``aborting``, or the terminal status it had already reached."""
        body = {"reason": reason} if reason else {}
        result: dict[str, Any] = self._json("POST", self._job_path(job_id, "abort"), json=body)
        return result

    def abort_all(self, reason: str | None = None) -> dict[str, Any]:
        """Ask every active job to abort (reason by default: "Admin-initiated emergency cleanup").

        Returns ``{"message", "targetedJobs", "abortRequestedFor", "targetedJobIds", "abortRequestedJobIds"}``:
        two counts as the reference system answers them, and the ids."""
        body = {"reason": reason} if reason else {}
        result: dict[str, Any] = self._json("POST", "/abort-all", json=body)
        return result

    def types(self) -> list[dict[str, Any]]:
        """Registered job types with their parameters and active job ids."""
        result: list[dict[str, Any]] = self._json("GET", "/types")
        return result

    def workers(self) -> dict[str, Any]:
        """``{"workers": [...], "queues": [...], "staleAfter"}``: the processes that run jobs (live or gone, busy or
        idle, their jobs, heartbeat age) and each job type's queue (``GET /workers``)."""
        result: dict[str, Any] = self._json("GET", "/workers")
        return result

    def stats(self) -> dict[str, Any]:
        """Counts per status, active jobs and the stale threshold."""
        result: dict[str, Any] = self._json("GET", "/stats")
        return result

    # ------------------------------------------------------------------ live

    def iter_events(
        self,
        last_event_id: str | None = None,
        job_type: str | None = None,
        *,
        reconnect_for: float = 30.0,
    ) -> EventStream:
        """Follow ``/events``: an iterator of :class:`JobEvent` (and :class:`StreamReset` when the server lost
        the resume point). A server that cannot be reached at first is a ClientError at once; a connection
        dropped later is resumed with ``Last-Event-ID``, and after ``reconnect_for`` seconds without getting
        back in, ClientError. ``job_type`` keeps only that type's events."""
        return EventStream(self, last_event_id, job_type, reconnect_for)

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        """Block until the job is terminal (following ``/events``, not polling) and return it.

        ``timeout`` is checked as events arrive; ClientError when it has passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.iter_events() as stream:
            stream.connect()  # subscribed before the first read: nothing can slip between the two
            job = self.job(job_id, messages=0)
            if job.status in TERMINAL:
                return job
            for event in stream:
                if deadline is not None and time.monotonic() > deadline:
                    raise ClientError(f"job {job_id} still {job.status.value} after {timeout:g}s")
                if isinstance(event, StreamReset) or (event.job_id == job_id and event.type is EventType.STATUS):
                    job = self.job(job_id, messages=0)
                    if job.status in TERMINAL:
                        return job
        raise ClientError(f"the event stream from {self.base_url} ended before job {job_id} finished")


