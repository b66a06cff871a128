"""What a webhook receiver gets: the job's summary, or a schedule's (an occurrence skipped or missed), or Slack's
message shape; and its signature.

The sending (queues, retries, deadlines, which addresses) is :mod:`jobdeck.api._notify`'s.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from ..core.model import JobInfo, format_time
from ..core.schedule_state import Schedule

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "job_summary", "schedule_summary", "sign", "slack_message"]

SIGNATURE_HEADER = "X-Jobdeck-Signature"
TIMESTAMP_HEADER = "X-Jobdeck-Timestamp"
_MAX_ERROR = 2000


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over ``timestamp``, a dot, and the body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def job_summary(job: JobInfo, event: str, link: str) -> dict[str, Any]:
    """The JSON a webhook receives. It is sent when a job ends, so for a job whose type retries, on its last
    failure only (a failed attempt with attempts left puts the job back in the queue: no terminal transition);
    ``attempt`` says how many runs it took, of ``maxAttempts``."""
    first_error = job.error_messages[0].message[:_MAX_ERROR] if job.error_messages else None
    end = job.end_time if job.end_time is not None else time.time()
    return {
        "event": f"job.{event}",
        "jobType": job.job_type,
        "id": job.id,
        "status": job.status.value,
        "author": job.author,
        "duration": round(end - job.start_time, 3),
        "firstError": first_error,
        "abortReason": job.abort_reason,
        "abortedBy": job.aborted_by,
        "attempt": job.attempt,
        "maxAttempts": job.max_attempts,
        "link": link,
        "startTime": job.to_dict(messages=0)["startTime"],
        "endTime": job.to_dict(messages=0)["endTime"],
        "usage": job.usage.to_dict() if job.usage is not None else None,
    }


def schedule_summary(schedule: Schedule, event: str, count: int, link: str) -> dict[str, Any]:
    """The JSON a webhook receiver gets when ``count`` occurrences of a schedule were skipped (``event``
    ``skipped``: overlap) or missed (``missed``: older than the misfire grace when a process could fire them):
    ``total`` is the schedule's count so far, ``reason`` why."""
    skip = schedule.last_skip if event == "skipped" else None
    reason = skip.reason if skip is not None else (
        f"older than misfireGrace ({schedule.spec.misfire_grace:g}s) when a process could start it: no process "
        "that runs the type was up")
    return {
        "event": f"schedule.{event}",
        "id": schedule.id,
        "jobType": schedule.spec.job_type,
        "count": count,
        "total": schedule.skipped if event == "skipped" else schedule.missed,
        "reason": reason,
        "time": format_time(skip.time) if skip is not None else None,
        "nextRun": format_time(schedule.next_fire),
        "link": link,
    }


def _escape(text: str) -> str:
    # Slack's mrkdwn: only these three are control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(summary: dict[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook format: a ``text`` fallback and one section block."""
    if summary["event"].startswith("schedule."):
        what = summary["event"].removeprefix("schedule.")
        head = f"schedule {summary['id']} ({summary['jobType']}): {summary['count']} occurrence(s) {what}"
        text = f":warning: *{_escape(head)}*\n{_escape(summary['reason'])}\n<{summary['link']}|schedule>"
        return {"text": f"jobdeck: {head}", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
    icon = {"job.failed": ":x:", "job.reaped": ":skull:", "job.aborted": ":octagonal_sign:"}.get(
        summary["event"], ":white_check_mark:")
    what = summary["event"].removeprefix("job.")
    head = f"{summary['jobType']} {what} after {summary['duration']:.1f}s (by {summary['author']})"
    attempt, attempts = summary.get("attempt") or 1, summary.get("maxAttempts") or 1
    if attempts > 1 or attempt > 1:  # a type that retries: say which run this was
        head += f", attempt {attempt} of {attempts}" if attempt <= attempts else f", attempt {attempt}"
    lines = [f"{icon} *{_escape(head)}*", f"<{summary['link']}|job {summary['id'][:8]}>"]
    if summary.get("firstError"):
        lines.append(f"```{_escape(str(summary['firstError'])[:500])}```")
    if summary.get("abortedBy"):
        lines.append(_escape(f"aborted by {summary['abortedBy']}: {summary.get('abortReason') or 'no reason'}"))
    return {"text": f"jobdeck: {head}", "blocks": [{"type": "section",
                                                    "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]}
