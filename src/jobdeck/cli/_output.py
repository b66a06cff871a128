"""Terminal rendering for the CLI: tables, job details, messages, progress bars.

Job content (messages, params, types) is the user's text: it goes into ``rich.text.Text`` objects, never into
markup strings, so a message like ``[red]`` prints as written. The words around it are in the CLI's language
(:mod:`jobdeck.cli._lang`); English is the reference, and what scripts read is ``--json``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from datetime import datetime
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..core.model import JobInfo, JobMessage, JobStatus, MessageType
from ..core.operations import HiddenOperations, OperationNode
from ._lang import t
from ._spend_output import cost_cell, share_text, usage_text

__all__ = [
    "STATUS_STYLE",
    "attempt_text",
    "console",
    "decimal",
    "first_error_line",
    "format_duration",
    "format_operation",
    "format_time",
    "job_details",
    "jobs_table",
    "message_text",
    "print_json",
    "progress_cell",
    "status_text",
    "status_word",
    "summary_line",
    "zone_name",
]

STATUS_STYLE = {
    JobStatus.QUEUED: "blue",
    JobStatus.RUNNING: "cyan",
    JobStatus.ABORTING: "yellow",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.ABORTED: "magenta",
}
MESSAGE_STYLE = {MessageType.INFO: "", MessageType.WARNING: "yellow", MessageType.ERROR: "bold red"}


def console(file: TextIO | None = None) -> Console:
    """A console on stdout; when piped it is wide enough that job ids are never cut."""
    stream = file or sys.stdout
    wide = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return Console(file=stream, width=wide, highlight=False, soft_wrap=False)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no colour, no wrapping): for scripts and ``jq``."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def format_time(ts: float | None, with_date: bool = True) -> str:
    """Local time, 24-hour, as the dashboard writes it; with the date, the zone follows (``... 20:41:07 UTC``)."""
    if ts is None:
        return "-"
    if not with_date:
        return datetime.fromtimestamp(ts).strftime("%H:%M:%S")
    return f"{datetime.fromtimestamp(ts).strftime('%Y-%m-%d %H:%M:%S')} {zone_name()}"


def decimal(value: float, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals and the language's decimal mark (``3.5``, ``3,5``)."""
    return f"{value:.{digits}f}".replace(".", t("cli.decimal_mark"))


def format_duration(seconds: float) -> str:
    """``3.2s``, ``4m05s``, ``2h05m`` (in Finnish ``3,2 s``, ``4 min 05 s``, ``2 h 05 min``)."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return t("cli.duration.seconds", s=decimal(seconds))
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return t("cli.duration.minutes", m=minutes, s=f"{secs:02d}")
    hours, minutes = divmod(minutes, 60)
    return t("cli.duration.hours", h=hours, m=f"{minutes:02d}")


def format_operation(job: JobInfo) -> str:
    """``question-q2-pros 3/12``, or empty when the job has no pipeline."""
    op = job.current_operation
    return f"{op.id} {op.index}/{op.total}" if op else ""


def _wait_words(seconds: float) -> str:
    """``41 s``, ``14 min 30 s``, ``2 h 5 min``: how long until a retry, rounded up (never "0 s" before it)."""
    whole = math.ceil(seconds)
    if whole < 100:
        return t("time.seconds", n=whole)
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return t("time.minutes_seconds", m=minutes, s=secs) if secs else t("time.minutes", n=minutes)
    hours, minutes = divmod(minutes, 60)
    return t("time.hours_minutes", h=hours, m=minutes) if minutes else t("time.hours", n=hours)


def attempt_text(job: JobInfo, now: float | None = None, *, first: bool = False) -> str:
    """Which run of its job this is, in words: ``attempt 2 of 5, retrying in 41 s`` for a job waiting for its next
    attempt, ``attempt 2 of 5`` for a later attempt (running or ended). Empty for a first attempt unless ``first``
    and its type retries (``attempt 1 of 5``), and for a job whose type does not retry and never went back to the
    queue. (A job put back in the queue for a lost worker can run past its type's attempts: ``attempt 2``.)"""
    waiting = job.status is JobStatus.QUEUED and job.retry_at is not None
    if job.attempt <= 1 and not waiting and not (first and job.max_attempts > 1):
        return ""
    text = t("cli.attempt.of", attempt=job.attempt, total=job.max_attempts) if job.attempt <= job.max_attempts \
        else t("cli.attempt.nth", attempt=job.attempt)
    if waiting and job.retry_at is not None:
        left = job.retry_at - (time.time() if now is None else now)
        text = t("cli.attempt.retrying_in", attempt=text, wait=_wait_words(left)) if left > 0 \
            else t("cli.attempt.retrying_now", attempt=text)
    return text


def status_word(status: JobStatus) -> str:
    """The status in the CLI's language, lower case as in a sentence (``running``, ``käynnissä``)."""
    return t(f"cli.status.{status.value}")


def status_text(status: JobStatus) -> Text:
    return Text(status_word(status), style=STATUS_STYLE.get(status, ""))


def progress_cell(job: JobInfo, width: int = 20) -> RenderableType:
    bar = ProgressBar(total=1.0, completed=min(max(job.progress, 0.0), 1.0), width=width,
                      complete_style=STATUS_STYLE.get(job.status, "cyan"),
                      finished_style=STATUS_STYLE.get(job.status, "green"))
    table = Table.grid(padding=(0, 1))
    table.add_row(bar, Text(f"{decimal(job.progress * 100):>5}%"))
    return table


def _short_time(ts: float | None) -> str:
    """The dashboard's way (format.js): local time, 24-hour, ``14:03:20`` today, ``2026-12-06 20:41:07`` before."""
    if ts is None:
        return "-"
    when = datetime.fromtimestamp(ts)
    return when.strftime("%H:%M:%S" if when.date() == datetime.now().date() else "%Y-%m-%d %H:%M:%S")


def zone_name() -> str:
    """The local time zone's short name (``UTC``, ``EET``), said beside listed times as the dashboard does."""
    return datetime.now().astimezone().strftime("%Z") or t("time.local_zone")


def first_error_line(job: JobInfo) -> str:
    """Why a past job did not complete: the first line of its newest error, or its abort reason."""
    if job.status is JobStatus.FAILED and job.error_messages:
        return job.error_messages[-1].message.strip().split("\n", 1)[0]
    if job.status is JobStatus.ABORTED and job.abort_reason:
        return t("cli.list.aborted_reason", reason=job.abort_reason)
    return ""


def jobs_table(jobs: list[JobInfo], past: bool, errors: dict[str, str] | None = None,
               width: int | None = None) -> Text:
    """Jobs as aligned rows with 8-character ids (any unique prefix of 6 or more works where an id is taken).

    ID, status, progress and duration never shrink; when the rows are wider than the terminal (80 columns is
    enough), the type, operation or end time, author and error give way first, cut with an ellipsis. Past lists
    end with the first line of each failed job's newest error (or an aborted job's reason)."""
    columns = ["ID", "TYPE", "STATUS", "PROG", "ENDED" if past else "OPERATION", "DURATION", "AUTHOR"]
    shrink = {"TYPE": 6, "ENDED": 11, "OPERATION": 9, "AUTHOR": 6, "ERROR": 12}
    spent = any(job.usage is not None for job in jobs)  # a COST column only where some job recorded use
    if spent:
        columns.insert(6, "COST")
    if past:
        columns.append("ERROR")
    rows: list[list[Text]] = []
    for job in jobs:
        attempt = attempt_text(job)
        row = [Text(job.id[:8]), Text(job.job_type), status_text(job.status), Text(f"{job.progress * 100:.0f}%"),
               Text(_short_time(job.end_time)) if past else _operation_cell(job, attempt),
               _duration_text(job), Text(job.author)]
        if spent:
            row.insert(6, Text(cost_cell(job.usage)))
        if past:
            why = (errors or {}).get(job.id) or first_error_line(job)
            if attempt:
                why = f"{attempt}: {why}" if why else attempt
            row.append(Text(why, style="red" if job.status is JobStatus.FAILED else ""))
        rows.append(row)
    heads = {name: t(f"cli.column.{name.lower()}") for name in columns}
    heads["ENDED"] = t("cli.column.ended", zone=zone_name())
    widths = [max([Text(heads[name]).cell_len, *(r[i].cell_len for r in rows)]) for i, name in enumerate(columns)]
    limit = width if width is not None else console().width
    if spent and sum(min(w, shrink.get(n, w)) + 2 for n, w in zip(columns, widths, strict=True)) - 2 > limit:
        at = columns.index("COST")  # no room for it beside the error at this width: the cost gives way
        del columns[at], widths[at]
        for row in rows:
            del row[at]
    while sum(widths) + 2 * (len(widths) - 1) > limit:
        candidates = [i for i, name in enumerate(columns) if name in shrink and widths[i] > shrink[name]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i] - shrink[columns[i]])
        widths[widest] -= 1
    right = {"PROG", "DURATION", "COST"}
    out = Text()
    for cells in ([Text(heads[name], style="bold") for name in columns], *rows):
        line = Text()
        for i, original in enumerate(cells):
            cell = original.copy()
            cell.truncate(widths[i], overflow="ellipsis", pad=False)
            pad = " " * (widths[i] - cell.cell_len)
            if i:
                line.append("  ")
            if columns[i] in right:
                line.append(pad)
                line.append_text(cell)
            else:
                line.append_text(cell)
                if i < len(cells) - 1:
                    line.append(pad)
        line.rstrip()
        out.append_text(line)
        out.append("\n")
    out.rstrip()
    return out

def _operation_cell(job: JobInfo, attempt: str) -> Text:
    """An active job's place: ``question-q2-pros 3/12``, after ``attempt 2 of 5 · `` on a later attempt; for a job
    waiting for its next attempt, when that is (``attempt 2 of 5, retrying in 41 s``)."""
    if not attempt:
        return Text(format_operation(job))
    if job.status is JobStatus.QUEUED and job.retry_at is not None:
        return Text(attempt, style="yellow")
    operation = format_operation(job)
    return Text(f"{attempt} · {operation}" if operation else attempt)


def _duration_text(job: JobInfo) -> Text:
    """How long it ran; for a job still waiting for a worker, how long it has waited."""
    if job.status is JobStatus.QUEUED:
        return Text(t("cli.list.waiting", duration=format_duration(job.waited or 0.0)), style="dim")
    return Text(format_duration(job.duration))


def message_text(message: JobMessage, with_date: bool = False, stamp: bool = True) -> Text:
    """``12:00:01.234 warn  text``, coloured by kind."""
    labels = {kind: t(f"cli.message.{kind.value}") for kind in MessageType}
    label = labels[message.type].ljust(max(len(word) for word in labels.values()))
    text = Text()
    if stamp:
        when = datetime.fromtimestamp(message.timestamp).strftime(
            "%Y-%m-%d %H:%M:%S.%f" if with_date else "%H:%M:%S.%f")[:-3]
        text.append(f"{when} ", style="dim")
    text.append(label, style=MESSAGE_STYLE[message.type] or "blue")
    text.append(" ")
    text.append(message.message, style=MESSAGE_STYLE[message.type])
    return text


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def job_details(job: JobInfo, newest: int | None = None) -> RenderableType:
    """Everything ``show`` prints: the fields, then the messages oldest first (``newest`` of each kind)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    status = status_text(job.status)
    attempt = attempt_text(job, first=True)
    if attempt:
        status.append(f", {attempt}")
        if job.status is JobStatus.QUEUED and job.retry_at is not None:
            status.append(" " + t("cli.show.retry_at", time=format_time(job.retry_at)))
    # The field names are words for people (the keys of --json are the ones for programs).
    rows: list[tuple[str, RenderableType]] = [
        ("id", Text(job.id)),
        ("type", Text(job.job_type)),
        ("status", status),
    ]
    if job.diagnosis:  # why an active job is where it is (issue 22); the server's sentence, as it wrote it
        rows.append(("diagnosis", Text(f"{job.diagnosis['code']}: {job.diagnosis['text']}")))
    rows += [
        ("author", Text(job.author)),
        ("progress", progress_cell(job, width=30)),
    ]
    if job.resumed_from:
        rows.append(("resumed_from", Text(t("cli.show.resumed_from_value", id=job.resumed_from))))
    elif job.rerun_of:
        rows.append(("rerun_of", Text(job.rerun_of)))
    if job.current_operation:
        rows.append(("operation", Text(format_operation(job))))
    rows += [
        ("started", Text(format_time(job.start_time))),
        ("ended", Text(format_time(job.end_time))),
        ("duration", Text(format_duration(job.duration))),
        ("last_activity", Text(format_time(job.last_activity_time))),
        ("params", Text(_compact(job.params))),
    ]
    if job.result is not None:
        rows.append(("result", Text(_compact(job.result))))
    if job.abort_reason or job.abort_time:
        reason = job.abort_reason or t("cli.abort.no_reason")
        when = format_time(job.abort_time)
        requested = t("cli.show.abort_requested_by", reason=reason, who=job.aborted_by, time=when) \
            if job.aborted_by else t("cli.show.abort_requested", reason=reason, time=when)
        rows.append(("abort", Text(requested)))
    if job.usage is not None:
        rows.append(("usage", Text(usage_text(job.usage))))
    if job.owner:
        rows.append(("owner", Text(job.owner)))
    counts = t("cli.show.message_counts", info=len(job.info_messages), warning=len(job.warning_messages),
               error=len(job.error_messages))
    if newest is not None:
        counts += " " + t("cli.show.newest_of_each", count=newest)
    rows.append(("messages", Text(counts)))
    for name, value in rows:
        grid.add_row(t(f"cli.show.{name}"), value)
    parts: list[RenderableType] = [grid]
    if job.operations is not None and job.operations.nodes:
        parts += [Text(""), Text(t("cli.show.operations"), style="bold"), *operation_lines(job)]
    shown = job.all_messages()
    if shown:
        parts += [Text(""), *(message_text(m, with_date=True) for m in shown)]
    return Group(*parts) if len(parts) > 1 else grid



def operation_lines(job: JobInfo) -> list[Text]:
    """The job's operation tree, one line per operation indented by level: name, state in words, percentage."""
    lines: list[Text] = []
    active = job.is_active

    def walk(entries: tuple[OperationNode | HiddenOperations, ...], depth: int) -> None:
        pad = "  " * (depth + 1)
        for entry in entries:
            if isinstance(entry, HiddenOperations):
                lines.append(Text(pad + t("cli.operation.more", count=entry.count, done=entry.done), style="dim"))
                continue
            name = entry.id if entry.weight == 1.0 else t("cli.operation.weighted", id=entry.id,
                                                              weight=f"{entry.weight:g}")
            state = "stopped" if entry.state == "started" and not active else entry.state
            line = Text(f"{pad}{name}  ")
            line.append(t(f"cli.operation.{state}"),
                        style="green" if state == "done" else "bold" if state == "started" else "")
            line.append(f"  {decimal(math.floor(entry.progress * 1000) / 10)}%")
            if entry.usage is not None:
                line.append(f"  {share_text(entry.usage)}", style="dim")
            lines.append(line)
            walk(entry.children, depth + 1)

    if job.operations is not None:
        walk(job.operations.nodes, 0)
    return lines


def summary_line(job: JobInfo) -> Text:
    """One line for a job that ended: status, duration, and the result, abort reason or last error."""
    text = Text(t("cli.summary.job", id=job.id, type=job.job_type) + " ")
    text.append(status_word(job.status), style=STATUS_STYLE.get(job.status, ""))
    end = job.end_time if job.end_time is not None else time.time()
    text.append(" " + t("cli.summary.after", duration=format_duration(end - job.start_time)))
    attempt = attempt_text(job)
    if attempt:
        text.append(f" ({attempt})")
    if job.status is JobStatus.COMPLETED and job.result is not None:
        text.append(f": {_compact(job.result)}")
    elif job.status is JobStatus.ABORTED:
        text.append(f": {job.abort_reason or t('cli.abort.no_reason')}")
        if job.aborted_by:
            text.append(" " + t("cli.summary.by", who=job.aborted_by))
    elif job.status is JobStatus.FAILED and job.error_messages:
        text.append(f": {job.error_messages[-1].message}")
    return text
