"""Celery on RabbitMQ (127.0.0.1:5672, a queue unique to this run, deleted afterwards): a job runs in a worker, the
idle worker takes the next job at once, a queued job's abort wins over its delivery."""

from __future__ import annotations

import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require

from .conftest import STALE_AFTER, Deployment, owner_pid, started_in

pytestmark = pytest.mark.slow

AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def _rabbit_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if not _rabbit_answers():
        require("no RabbitMQ on 127.0.0.1:5672")
    tmp = tmp_path_factory.mktemp("amqp")
    queue = f"jobdeck-test-{uuid.uuid4().hex[:10]}"
    deployment = Deployment(tmp, f"sqlite:///{tmp / 'jobs.db'}", f"celery+{AMQP}?queue={queue}", " ready.")
    try:
        deployment.add_server()
        deployment.start_workers(2)
        yield deployment
    finally:
        deployment.close()
        from kombu import Connection

        with Connection(AMQP, connect_timeout=2) as conn:
            conn.default_channel.queue_delete(queue)


def test_jobs_run_on_idle_workers_and_a_queued_abort_wins(rabbit: Deployment) -> None:
    deck = rabbit
    first = deck.start_ok("Parallel", seconds=60.0)
    a = owner_pid(deck.wait_status(first["id"], "running", timeout=20))
    second = deck.start_ok("Parallel", seconds=60.0)
    b = owner_pid(deck.wait_status(second["id"], "running", timeout=10))
    assert {a, b} == {w.pid for w in deck.workers} and a != b
    waiting = deck.start_ok("Parallel", seconds=0.1)
    assert deck.job(waiting["id"])["status"] == "queued"
    assert deck.server.api("POST", f"/single/{waiting['id']}/abort").status_code == 202
    assert deck.job(waiting["id"])["status"] == "aborted"
    follow = deck.start_ok("Parallel", seconds=0.1)
    deck.server.api("POST", f"/single/{second['id']}/abort")
    done = deck.wait_status(follow["id"], "completed", timeout=20)
    assert owner_pid(done) == b  # the worker that came free, not the busy one
    assert started_in(deck.job(waiting["id"])) is None
    deck.abort_all_and_settle()


def test_a_re_queued_job_runs_once_though_rabbitmq_redelivers_the_dead_worker_s_message(rabbit: Deployment,
                                                                                         tmp_path: Path) -> None:
    # RabbitMQ gives the killed worker's unacknowledged message back at once, before the reaper has ruled: a
    # worker that takes it finds the job still running and drops it; the re-queue then runs the job once.
    deck = rabbit
    deck.start_workers(2)
    job = deck.start_ok("Retried", marker=str(tmp_path / "first-run"))
    running = deck.wait_status(job["id"], "running", timeout=20)
    victim = next(w for w in deck.workers if w.pid == owner_pid(running))
    victim.signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    done = deck.wait_status(job["id"], "completed", timeout=float(STALE_AFTER) * 6)
    assert done["attempt"] == 2 and owner_pid(done) != victim.pid and done["errorMessages"] == []
    starts = [m["message"] for m in done["infoMessages"] if m["message"].startswith("handler started in pid ")]
    assert len(starts) == 2  # the killed run and the re-queued one, nothing more
    deck.start_workers(2)
    deck.abort_all_and_settle()
