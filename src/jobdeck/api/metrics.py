"""``GET /metrics``: Prometheus figures in the text format, through ``prometheus_client`` (``jobdeck[metrics]``).

Each app has its own ``CollectorRegistry`` (never the process-global one), so two apps in a process never mix.

Which figures are whose, when several server processes share one store and Prometheus scrapes each:

- **Per process** (sum them over instances): ``jobdeck_jobs_started_total``, ``jobdeck_jobs_finished_total``,
  ``jobdeck_job_duration_seconds``, ``jobdeck_jobs_reaped_total``, ``jobdeck_event_stream_clients``,
  ``jobdeck_store_errors_total``. A transition is counted by the one process whose store call made it (the
  store's atomic step lets exactly one win), so a job is never counted twice however many servers watch it.
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

from ..errors import InvalidArgumentError, JobdeckError
from ..settings import is_loopback
from ..stores.base import Store, Transition
from .errors import ApiError

if TYPE_CHECKING:
    from .sse import Multiplexer

__all__ = ["DURATION_BUCKETS", "JobMetrics", "load_prometheus"]

logger = logging.getLogger("jobdeck.metrics")

# Admin jobs run from seconds to hours.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)


def load_prometheus() -> Any:
    """The ``prometheus_client`` module, or ImportError naming the extra to install."""
    try:
        import prometheus_client
    except ImportError:
        raise ImportError("/metrics needs prometheus_client: pip install 'jobdeck[metrics]'") from None
    return prometheus_client


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
        labels = ("job_type",)
        self.started = prom.Counter("jobdeck_jobs_started", "Jobs this process created", labels,
                                    registry=self.registry)
        self.finished = prom.Counter("jobdeck_jobs_finished", "Jobs this process brought to a terminal status",
                                     ("job_type", "status"), registry=self.registry)
        self.duration = prom.Histogram("jobdeck_job_duration_seconds", "Start to terminal status, of the jobs this "
                                       "process finished", ("job_type", "status"), buckets=DURATION_BUCKETS,
                                       registry=self.registry)
        self.reaped = prom.Counter("jobdeck_jobs_reaped", "Active jobs this process failed as stale", labels,
                                   registry=self.registry)
        self.store_errors = prom.Counter("jobdeck_store_errors", "Store calls of this server that failed",
                                         registry=self.registry)
        clients = prom.Gauge("jobdeck_event_stream_clients", "Open /events streams on this process",
                             registry=self.registry)
        clients.set_function(lambda: mux.client_count)
        self.registry.register(_ActiveCollector(self))

    # ------------------------------------------------------------------ counting

    def observe(self, transition: Transition) -> None:
        job = transition.job
        if transition.created:
            self.started.labels(job.job_type).inc()
            return
        status = job.status.value
        self.finished.labels(job.job_type, status).inc()
        if job.end_time is not None:
            self.duration.labels(job.job_type, status).observe(max(0.0, job.end_time - job.start_time))
        if transition.reaped:
            self.reaped.labels(job.job_type).inc()

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
