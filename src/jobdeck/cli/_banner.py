"""What ``jobdeck serve`` prints when it starts: where it serves, its store, types and executor, how to sign in
(the generated token on a line of its own, ``JOBDECK_TOKEN=...``, to copy into a shell), and what else is on."""

from __future__ import annotations

from ..runtime.runner import JobRunner
from .settings import Settings

__all__ = ["print_banner"]


def _executor_text(runner: JobRunner) -> str:
    executor = runner.executor
    if executor.runs_in_process:
        return "local (jobs run in this process)"
    return f"{executor.name} (this server only enqueues; `jobdeck worker` processes run the jobs)"


def print_banner(settings: Settings, store_text: str, runner: JobRunner, token: str | None, generated: bool) -> None:
    """Print the start-up lines (``store_text`` already redacted)."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{settings.port}"
    types = ", ".join(t.name + (" (external)" if t.external else "") for t in runner.types) \
        or "none registered (use --app or --demo)"
    lines = [
        f"jobdeck serving on {base}",
        f"  store: {store_text}",
        *([f"  schema: {note}"] if (note := getattr(runner.store, "schema_note", None)) else []),
        f"  job types: {types}",
        f"  executor: {_executor_text(runner)}",
        f"  API: {base}{settings.prefix}",
    ]
    if token is None:
        lines.append("  WARNING: authentication is OFF (--no-auth): anyone who can connect to this port can "
                     "start and abort jobs")
        lines.append(f"  dashboard: {base}/")
    elif generated:
        lines.append(f"  open the dashboard (token generated for this run): {base}/?token={token}")
        lines.append("  the token, to copy into a shell or a client (set --token or JOBDECK_TOKEN to keep it "
                     "across restarts):")
        lines.append(f"JOBDECK_TOKEN={token}")
    else:
        lines.append(f"  dashboard: {base}/ (log in with your token; the API takes 'Authorization: Bearer <token>')")
    if settings.viewer_tokens:
        lines.append(f"  viewer tokens: {len(settings.viewer_tokens)} (read-only)")
    if settings.tokens or settings.tokens_file:
        lines.append("  named tokens: each holder's name is recorded as the author of what they start and as who "
                     "aborted what they abort")
    if settings.metrics_token or settings.metrics_public:
        who = "with the metrics token" if settings.metrics_token else "open to loopback clients"
        lines.append(f"  metrics: {base}/metrics ({who})")
    if settings.notify:
        signed = "signed" if settings.notify_secret else "unsigned"
        local = ", local targets allowed" if settings.notify_allow_private else ""
        lines.append(f"  notifications: {len(settings.notify)} webhook(s), {signed}{local}")
    print("\n".join(lines), flush=True)
