"""``jobdeck watch [ID]``: follow jobs live over ``/events`` (no polling).

On a terminal the view is a ``rich.live.Live`` display (progress bars, current operation, newest messages);
piped, it prints one line per change instead, so logs and tests see the same events. Watching one job exits
with its outcome (0 completed, 1 failed, 2 aborted); watching all runs until Ctrl-C.

The stream is opened (up to the server's ``hello``) before the state is loaded, so no change can fall between
the snapshot and the first event; a ``reset`` from the server reloads the snapshot.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..client import Client, StreamReset
from ..core.errors import ClientError
from ..core.events import EventType, JobEvent
from ..core.model import TERMINAL, JobInfo, JobMessage, OperationRef, parse_time
from . import _output as output
from ._common import ExitCode, add_connection_options, make_client, outcome_code, resolve_job_id
from ._lang import t

__all__ = ["WatchState", "follow_job", "register", "watch_all"]

Show = Callable[[list[Text]], None]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "watch", help="follow one job, or all active jobs, live",
        description="Follow jobs live over the server's event stream. With ID: until that job ends, exiting "
                    "0 completed, 1 failed, 2 aborted. Without: all active jobs until Ctrl-C.")
    p.add_argument("job_id", metavar="ID", nargs="?", help="the job to follow (default: all active jobs)")
    p.add_argument("--type", metavar="TYPE", dest="job_type", help="without ID: only jobs of this type")
    p.add_argument("--messages", metavar="N", type=int, help="newest messages shown per job (default 10 / 3)")
    add_connection_options(p)
    p.set_defaults(func=cmd_watch, parser=p)


def cmd_watch(args: argparse.Namespace) -> int:
    if args.messages is not None and args.messages < 0:
        args.parser.error(t("cli.watch.messages"))
    if args.job_id and args.job_type:
        args.parser.error(t("cli.watch.type_with_id"))
    with make_client(args) as client:
        if args.job_id:
            keep = 10 if args.messages is None else args.messages
            return follow_job(client, resolve_job_id(client, args.job_id), keep_messages=keep)
        return watch_all(client, args.job_type, keep_messages=3 if args.messages is None else args.messages)


@dataclass
class Tracked:
    job: JobInfo
    messages: deque[JobMessage] = field(default_factory=deque)


class WatchState:
    """The jobs on screen, updated from events; ``apply`` also says in words what changed (for piped output)."""

    def __init__(self, keep_messages: int, keep_finished: int = 5, title: str | None = None) -> None:
        self.keep_messages = keep_messages
        self.title = title
        self.keep_finished = keep_finished
        self.jobs: dict[str, Tracked] = {}
        self.finished: deque[str] = deque()
        self.lock = threading.Lock()  # the Live refresh thread renders while the main thread applies

    def load(self, job: JobInfo) -> list[Text]:
        """Take a full snapshot of one job (its newest messages included); a job new to the view is described
        with those messages, a known one silently refreshed."""
        newest = job.all_messages()[-self.keep_messages:] if self.keep_messages else []
        with self.lock:
            known = job.id in self.jobs
            self.jobs[job.id] = Tracked(job.head(), deque(newest, maxlen=self.keep_messages))
            self._note_finished(job)
        if known:
            return []
        return [self._line(job, self._describe(job)),
                *(self._line(job, output.message_text(m, stamp=False)) for m in newest)]

    def clear(self) -> None:
        with self.lock:
            self.jobs.clear()
            self.finished.clear()

    def _note_finished(self, job: JobInfo) -> None:
        if job.status in TERMINAL and job.id not in self.finished:
            self.finished.append(job.id)
            while len(self.finished) > self.keep_finished:
                self.jobs.pop(self.finished.popleft(), None)

    @staticmethod
    def _ended(job: JobInfo) -> Text:
        """``failed after 3.2s``: the status line of a job that ended (the full summary comes separately)."""
        what = output.status_text(job.status)
        if job.end_time is not None:
            what.append(" " + t("cli.summary.after", duration=output.format_duration(job.end_time - job.start_time)))
        attempt = output.attempt_text(job)
        if attempt:
            what.append(f" ({attempt})")
        if job.abort_reason:
            what.append(f": {job.abort_reason}")
        return what

    @classmethod
    def _describe(cls, job: JobInfo) -> str | Text:
        if job.status in TERMINAL:
            return cls._ended(job)
        text = f"{output.status_word(job.status)}, {job.progress * 100:.0f}%"
        if job.current_operation:
            text += f" {output.format_operation(job)}"
        attempt = output.attempt_text(job)
        if attempt:
            text += f", {attempt}"
        return f"{text}, {t('cli.watch.started_by', author=job.author)}"

    @staticmethod
    def _line(job: JobInfo, what: str | Text) -> Text:
        line = Text(f"{datetime.now():%H:%M:%S} {job.id} {job.job_type} ")
        line.append(what if isinstance(what, Text) else Text(what))
        return line

    def apply(self, event: JobEvent) -> list[Text]:
        """Apply one event; return lines describing it (empty for a job not on screen)."""
        with self.lock:
            tracked = self.jobs.get(event.job_id)
            data = event.data
            if event.type in (EventType.CREATED, EventType.STATUS):
                job = JobInfo.from_dict(data)
                before = tracked.job.status if tracked else None
                if tracked is None:
                    tracked = self.jobs[job.id] = Tracked(job, deque(maxlen=self.keep_messages))
                tracked.job = job
                self._note_finished(job)
                if event.type is EventType.CREATED:
                    return [self._line(job, t("cli.watch.started_by", author=job.author))]
                if before is job.status:
                    return []
                if job.status in TERMINAL:
                    return [self._line(job, self._ended(job))]
                what = output.status_text(job.status)
                attempt = output.attempt_text(job)
                if attempt:  # back in the queue for its next attempt, or running it
                    what.append(f", {attempt}")
                if job.abort_reason:
                    what.append(f": {job.abort_reason}")
                return [self._line(job, what)]
            if tracked is None:
                return []
            job = tracked.job
            if event.type is EventType.REMOVED:
                del self.jobs[event.job_id]
                return []
            if event.type is EventType.PROGRESS:
                old_op, old_tenth = job.current_operation, int(job.progress * 10)
                job.progress = float(data.get("progress", job.progress))
                job.last_activity_time = parse_time(data.get("lastActivityTime")) or job.last_activity_time
                op = data.get("currentOperation")
                job.current_operation = OperationRef.from_dict(op) if op else None
                if job.current_operation != old_op or int(job.progress * 10) != old_tenth:
                    return [self._line(job, f"{job.progress * 100:.0f}% {output.format_operation(job)}".rstrip())]
                return []
            if event.type is EventType.MESSAGE and isinstance(data.get("message"), dict):
                message = JobMessage.from_dict(data["message"])
                job.last_activity_time = message.timestamp
                if self.keep_messages:
                    tracked.messages.append(message)
                return [self._line(job, output.message_text(message, stamp=False))]
            return []

    def __rich__(self) -> RenderableType:
        with self.lock:
            tracked = sorted(self.jobs.values(), key=lambda t: (t.job.status in TERMINAL, t.job.start_time))
            active = sum(1 for t in tracked if t.job.status not in TERMINAL)
            title = self.title or t("cli.watch.title_all", count=active)
            parts: list[RenderableType] = [Text(title, style="dim")]
            if not tracked:
                parts.append(Text(t("cli.watch.waiting"), style="dim"))
            for item in tracked:
                job = item.job
                row = Table.grid(padding=(0, 1))
                row.add_row(
                    Text(job.job_type, style="bold"),
                    Text(job.id[:8], style="dim"),
                    output.status_text(job.status),
                    output.progress_cell(job, width=30),
                    Text(output.format_operation(job)),
                    Text(output.attempt_text(job), style="yellow"),  # rendered anew: the countdown runs
                    Text(output.format_duration(job.duration), style="dim"),
                )
                parts.append(row)
                parts.extend(Text("  ").append_text(output.message_text(m)) for m in item.messages)
            return Group(*parts)


@contextmanager
def _display(state: WatchState) -> Iterator[Show]:
    """Live view on a terminal; otherwise a function that prints the change lines as they come."""
    console = output.console()
    if console.is_terminal:
        with Live(state, console=console, refresh_per_second=4, transient=False):
            yield lambda lines: None
        return

    def show(lines: list[Text]) -> None:
        for line in lines:
            console.print(line, overflow="ignore", crop=False)
        console.file.flush()

    yield show


def follow_job(client: Client, job_id: str, keep_messages: int = 10) -> int:
    """Follow one job until it ends; print its summary and return 0 / 1 / 2 for completed / failed / aborted."""
    state = WatchState(keep_messages, title=t("cli.watch.title_one", id=job_id))
    try:
        with client.iter_events() as stream:
            stream.connect()
            first = state.load(client.job(job_id, messages=keep_messages))
            with _display(state) as show:
                show(first)
                while True:
                    tracked = state.jobs.get(job_id)
                    if tracked is None:  # a ``removed`` event: cleaned up while we watched
                        raise ClientError(t("cli.watch.removed", id=job_id), 404)
                    if tracked.job.status in TERMINAL:
                        break
                    event = next(stream)
                    if isinstance(event, StreamReset):
                        state.clear()
                        show(state.load(client.job(job_id, messages=keep_messages)))
                    elif event.job_id == job_id:
                        show(state.apply(event))
    except KeyboardInterrupt:
        sys.stderr.write(t("cli.watch.interrupted", id=job_id) + "\n")
        return ExitCode.INTERRUPTED
    except StopIteration:
        raise ClientError(t("cli.watch.stream_ended", url=client.base_url, id=job_id)) from None
    final = client.job(job_id, messages=1)  # the last error message explains a failure
    output.console().print(output.summary_line(final), overflow="ignore", crop=False)
    return outcome_code(final.status)


def watch_all(client: Client, job_type: str | None = None, keep_messages: int = 3) -> int:
    """Follow every active job (of ``job_type``) until Ctrl-C; new jobs appear as they start."""
    state = WatchState(keep_messages)

    def reload() -> list[Text]:
        state.clear()
        return [line for job in client.active(job_type, messages=keep_messages) for line in state.load(job)]

    try:
        with client.iter_events(job_type=job_type) as stream:
            stream.connect()
            with _display(state) as show:
                show(reload())
                for event in stream:
                    if isinstance(event, StreamReset):
                        show(reload())
                        continue
                    if event.job_id not in state.jobs and event.type in (EventType.PROGRESS, EventType.MESSAGE):
                        # A job we dropped from view (or never saw start): fetch it once if it is still active.
                        try:
                            job = client.job(event.job_id, messages=keep_messages)
                        except ClientError:
                            continue
                        if job.status not in TERMINAL:
                            show(state.load(job))
                        continue
                    show(state.apply(event))
    except KeyboardInterrupt:
        return ExitCode.OK  # Ctrl-C is how watching all jobs ends
    return ExitCode.OK
