"""What ``jobdeck serve`` prints when it starts: where it serves, its store, types and executor, how to sign in
(the generated token on a line of its own, ``JOBDECK_TOKEN=...``, to copy into a shell), and what else is on."""

from __future__ import annotations

from ..runtime.runner import JobRunner
from ._lang import t
from .settings import Settings

__all__ = ["print_banner"]


def _executor_text(runner: JobRunner) -> str:
    executor = runner.executor
    if executor.runs_in_process:
        return t("cli.banner.executor_local")
    return t("cli.banner.executor_remote", name=executor.name)


def print_banner(settings: Settings, store_text: str, runner: JobRunner, token: str | None, generated: bool) -> None:
    """Print the start-up lines (``store_text`` already redacted)."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{settings.port}"
    external = t("cli.banner.external")
    types = ", ".join(spec.name + (f" ({external})" if spec.external else "") for spec in runner.types) \
        or t("cli.banner.no_types")
    lines = [
        t("cli.banner.serving", url=base),
        "  " + t("cli.banner.store", store=store_text),
        *(["  " + t("cli.banner.schema", note=note)] if (note := getattr(runner.store, "schema_note", None)) else []),
        "  " + t("cli.banner.types", types=types),
        "  " + t("cli.banner.executor", executor=_executor_text(runner)),
        f"  API: {base}{settings.prefix}",
    ]
    if token is None:
        lines.append("  " + t("cli.banner.no_auth"))
        lines.append("  " + t("cli.banner.dashboard", url=f"{base}/"))
    elif generated:
        lines.append("  " + t("cli.banner.open_generated", url=f"{base}/?token={token}"))
        lines.append("  " + t("cli.banner.copy_token"))
        lines.append(f"JOBDECK_TOKEN={token}")
    else:
        lines.append("  " + t("cli.banner.dashboard_login", url=f"{base}/"))
    if settings.viewer_tokens:
        lines.append("  " + t("cli.banner.viewer_tokens", count=len(settings.viewer_tokens)))
    if settings.tokens or settings.tokens_file:
        lines.append("  " + t("cli.banner.named_tokens"))
    if settings.metrics_token or settings.metrics_public:
        who = t("cli.banner.metrics_token") if settings.metrics_token else t("cli.banner.metrics_loopback")
        lines.append("  " + t("cli.banner.metrics", url=f"{base}/metrics", who=who))
    if settings.notify:
        signed = t("cli.banner.signed") if settings.notify_secret else t("cli.banner.unsigned")
        local = t("cli.banner.local_targets") if settings.notify_allow_private else ""
        lines.append("  " + t("cli.banner.notifications", count=len(settings.notify), signed=signed + local))
    print("\n".join(lines), flush=True)
