"""``GET /metrics``: Prometheus figures in the text format, through ``prometheus_client`` (``jobdeck[metrics]``).

Each app has its own ``CollectorRegistry`` (never the process-global one), so two apps in a process never mix.

Which figures are whose, when several server processes (and the workers of a task engine) share one store and
Prometheus scrapes each:

- **Per process** (sum them over instances): the job counters and histograms of :mod:`jobdeck.runtime.metrics`
  (``jobdeck_jobs_queued_total``, ``jobdeck_jobs_started_total``, ``jobdeck_jobs_finished_total``,
  ``jobdeck_job_duration_seconds``, ``jobdeck_job_queue_wait_seconds``, ``jobdeck_jobs_reaped_total``,
  ``jobdeck_jobs_requeued_total``, ``jobdeck_schedule_runs_total``, ``jobdeck_schedule_last_run_timestamp_seconds``:
  take ``max`` of this one), and
  ``jobdeck_event_stream_clients``, ``jobdeck_store_errors_total``. A transition is counted by the one process
  whose store call made it (the store's atomic step lets exactly one win), so a job is never counted twice
  however many servers watch it. With a task engine, what workers do (claim, complete, fail) is counted by the
  workers: scrape them too (``jobdeck worker --metrics-port``).
- **Store-wide** (every instance reports the same value; take ``max``, not ``sum``): ``jobdeck_jobs_active``, read
  from the store at scrape time.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import InvalidArgumentError, JobdeckError
from ..core.net import is_loopback
from ..runtime.metrics import JobCounters, load_prometheus
from ..stores.base import Store, Transition
from ._errors import ApiError

if TYPE_CHECKING:
    from ._sse import Multiplexer

__all__ = ["JobMetrics"]

logger = logging.getLogger("jobdeck.metrics")


class JobMetrics:
    """The app's registry and its figures. ``observe`` is a store observer (see :meth:`Store.add_observer`)."""

    def __init__(self, store: Store, mux: Multiplexer, *, token: str | None = None, public: bool = False) -> None:
        if token is not None and (not isinstance(token, str) or not token):
            raise InvalidArgumentError("metrics_token must be a non-empty string")
        if token is None and not public:
            raise InvalidArgumentError("/metrics needs a metrics_token, or metrics_public=True (loopback clients only)")
        prom = load_prometheus()
        from prometheus_client.core import GaugeMetricFamily

        self._prom = prom
        self._gauge_family = GaugeMetricFamily
        self.store = store
        self.mux = mux
        self._token = token.encode() if token is not None else None
        self.public = public
        self.registry = prom.CollectorRegistry(auto_describe=True)
        self.counters = JobCounters(self.registry)
        self.store_errors = prom.Counter("jobdeck_store_errors", "Store calls of this server that failed",
                                         registry=self.registry)
        clients = prom.Gauge("jobdeck_event_stream_clients", "Open /events streams on this process",
                             registry=self.registry)
        clients.set_function(lambda: mux.client_count)
        self.registry.register(_ActiveCollector(self))

    # ------------------------------------------------------------------ counting

    def observe(self, transition: Transition) -> None:
        self.counters.observe(transition)

    def store_failed(self) -> None:
        self.store_errors.inc()

    # ------------------------------------------------------------------ serving

    def check_access(self, request: Request) -> None:
        """The metrics token (Bearer), or with ``public`` a loopback client; ApiError 401/403 otherwise."""
        if self._token is not None:
            header = request.headers.get("authorization", "")
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise ApiError(401, "/metrics needs 'Authorization: Bearer <metrics token>'",
                               {"WWW-Authenticate": "Bearer"})
            if not hmac.compare_digest(value.strip().encode("utf-8", "surrogateescape"), self._token):
                raise ApiError(403, "wrong metrics token")
            return
        client = request.client.host if request.client else ""
        if not is_loopback(client):
            raise ApiError(403, "/metrics is open to loopback clients only (metrics_public); use a metrics token")

    def render(self, accept: str | None) -> Response:
        body, content_type = self._prom.exposition.choose_encoder(accept or "")
        return Response(body(self.registry), media_type=None, headers={"Content-Type": content_type})

    def active_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for job in self.store.get_active_jobs(messages=False):
            key = (job.job_type, job.status.value)
            counts[key] = counts.get(key, 0) + 1
        return counts


class _ActiveCollector:
    """``jobdeck_jobs_active``: read from the store at scrape time (store-wide)."""

    def __init__(self, metrics: JobMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        return []  # computed at collect time; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        family = self.metrics._gauge_family(
            "jobdeck_jobs_active", "Active jobs in the store (store-wide: the same on every server)",
            labels=["job_type", "status"])
        try:
            counts = self.metrics.active_counts()
        except (JobdeckError, OSError):
            logger.warning("could not read active jobs for /metrics", exc_info=True)
            self.metrics.store_failed()
            return
        for (job_type, status), n in sorted(counts.items()):
            family.add_metric([job_type, status], n)
        yield family
