"""PipelineController: weighted, nested progress; messages; outcome; cooperative abort."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jobdeck import AbortError, JobStatus, MemoryStore, PipelineController, StoreError
from jobdeck.core.model import OperationRef
from jobdeck.core.operations import HiddenOperations, OperationNode, OperationTree
from jobdeck.core.pipeline import MAX_SNAPSHOT_CHILDREN, MAX_SNAPSHOT_DEPTH, MAX_SNAPSHOT_NODES
from jobdeck.runtime.controller import MAX_PROBLEMS, OPERATIONS_INTERVAL


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def ctl(store: MemoryStore) -> PipelineController:
    return PipelineController(store.create_job("ArgumentCondensation", "admin@example.com").id, store)


def progress_of(ctl: PipelineController) -> float:
    job = ctl.store.get_job(ctl.job_id)
    assert job is not None
    return job.progress


def test_progress_before_a_pipeline_sets_the_job_progress(ctl: PipelineController) -> None:
    ctl.progress(0.4)
    assert progress_of(ctl) == pytest.approx(0.4)
    ctl.progress(7)
    assert progress_of(ctl) == 1.0
    ctl.progress(float("nan"))  # skipped with a warning, never raised into job code
    ctl.progress("half")  # type: ignore[arg-type]
    assert progress_of(ctl) == 1.0
    warnings = [m.message for m in ctl.store.require_job(ctl.job_id).warning_messages]
    assert warnings == ["progress() ignored: progress must be a number between 0 and 1, got NaN",
                        "progress() ignored: progress must be a number between 0 and 1, got str"]


def test_operations_accept_ids_pairs_and_dicts_with_default_weight_one(ctl: PipelineController) -> None:
    ctl.initialize_pipeline(["a", ("b", 2), {"id": "c", "weight": 1}, {"id": "d"}])
    assert ctl.get_current_operation() == {"id": "a", "index": 1, "total": 4}
    ctl.update_operation("b", 1.0)
    assert progress_of(ctl) == pytest.approx(2 / 5)
    ctl.update_operation("d", 0.5)
    assert progress_of(ctl) == pytest.approx(2.5 / 5)


def test_job_progress_is_the_weighted_mean_of_operations_and_sub_operations(ctl: PipelineController) -> None:
    ctl.initialize_pipeline([("data-loading", 1), ("question-processing", 8), ("saving", 1)])
    ctl.define_sub_operations("question-processing", [("q1-pros", 1), ("q1-cons", 3)])
    ctl.update_sub_operation("data-loading", 1.0)  # the reference's two-argument form
    assert progress_of(ctl) == pytest.approx(0.1)
    ctl.update_sub_operation("question-processing", "q1-cons", 0.5)
    assert ctl.get_operation_progress("question-processing") == pytest.approx(0.375)
    assert progress_of(ctl) == pytest.approx(0.1 + 0.8 * 0.375)
    ctl.update_sub_operation("question-processing/q1-pros", 1.0)  # path form
    assert ctl.get_sub_operation_progress("question-processing", "q1-pros") == 1.0
    assert progress_of(ctl) == pytest.approx(0.1 + 0.8 * (0.25 + 0.375))


def test_progress_goes_to_the_current_sub_operation_and_auto_advances(ctl: PipelineController) -> None:
    ctl.initialize_pipeline(["data-loading", "question-processing", "saving"])
    ctl.define_sub_operations("question-processing", ["q1-pros", "q1-cons"])
    assert ctl.get_current_operation() == {"id": "data-loading", "index": 1, "total": 3}
    assert ctl.get_current_sub_operation() is None
    ctl.progress(1.0)
    assert ctl.get_current_operation() == {"id": "question-processing", "index": 2, "total": 3}
    assert ctl.get_current_sub_operation() == {"id": "q1-pros", "index": 1, "total": 2}
    ctl.progress(0.5)
    assert ctl.get_sub_operation_progress("question-processing", "q1-pros") == 0.5
    ctl.progress(1.0)
    assert ctl.get_current_sub_operation() == {"id": "q1-cons", "index": 2, "total": 2}
    ctl.progress(1.0)
    assert ctl.get_current_operation() == {"id": "saving", "index": 3, "total": 3}
    job = ctl.store.get_job(ctl.job_id)
    assert job is not None and job.current_operation is not None
    assert (job.current_operation.id, job.current_operation.index, job.current_operation.total) == ("saving", 3, 3)


def test_next_operation_finishes_the_current_one(ctl: PipelineController) -> None:
    ctl.initialize_pipeline(["a", "b"])
    ctl.next_operation()
    assert ctl.get_operation_progress("a") == 1.0
    assert ctl.get_current_operation() == {"id": "b", "index": 2, "total": 2}
    assert progress_of(ctl) == pytest.approx(0.5)


def test_sub_operations_nest_to_any_depth(ctl: PipelineController) -> None:
    ctl.initialize_pipeline(["only"])
    ctl.define_sub_operations("only", ["q1", "q2"])
    ctl.define_sub_operations("only/q1", ["pros", ("cons", 3)])
    assert ctl.has_sub_operations("only/q1") and not ctl.has_sub_operations("only/q2")
    ctl.update_operation("only/q1/cons", 1.0)
    assert ctl.get_operation_progress("only/q1") == pytest.approx(0.75)
    assert progress_of(ctl) == pytest.approx(0.375)
    assert ctl.get_sub_operations("only/q1") == [
        {"id": "pros", "weight": 1.0, "progress": 0.0},
        {"id": "cons", "weight": 3.0, "progress": 1.0},
    ]


def test_updates_to_operations_other_than_the_current_one_are_applied(ctl: PipelineController) -> None:
    ctl.initialize_pipeline(["a", "b", "c", "d"])
    ctl.update_operation("c", 1.0)  # concurrent work finishing out of order
    ctl.update_operation("b", 0.5)
    assert progress_of(ctl) == pytest.approx(1.5 / 4)
    assert ctl.get_current_operation() == {"id": "a", "index": 1, "total": 4}


def test_job_progress_never_moves_backwards(ctl: PipelineController) -> None:
    ctl.initialize_pipeline(["a", "b"])
    ctl.update_operation("a", 0.8)
    ctl.update_operation("a", 0.2)  # an operation may be corrected downwards...
    assert ctl.get_operation_progress("a") == pytest.approx(0.2)
    assert progress_of(ctl) == pytest.approx(0.4)  # ...the job's progress is not
    ctl.define_sub_operations("a", ["x", "y"])  # redefining resets the operation's own figure
    assert progress_of(ctl) == pytest.approx(0.4)


def warnings_of(ctl: PipelineController) -> list[str]:
    return [m.message for m in ctl.store.require_job(ctl.job_id).warning_messages]


def test_an_unknown_operation_is_one_warning_naming_it_and_the_known_ids(
        ctl: PipelineController, caplog: pytest.LogCaptureFixture) -> None:
    ctl.initialize_pipeline(["data-loading", "saving"])
    with caplog.at_level(logging.WARNING, logger="jobdeck"):
        for _ in range(3):
            ctl.update_operation("nope", 0.5)  # the same typo in a loop: one warning
    assert len(warnings_of(ctl)) == 1
    assert re.search(r"'nope'.*data-loading, saving", warnings_of(ctl)[0])
    assert len([r for r in caplog.records if "nope" in r.getMessage()]) == 1
    ctl.update_sub_operation("saving", "cache", 0.5)  # a sub-operation of an operation without any
    assert re.search(r"'cache'.*under 'saving'.*none", warnings_of(ctl)[1])
    ctl.define_sub_operations("saving", ["db"])
    ctl.update_sub_operation("saving", "cache", 0.5)
    assert re.search(r"'cache'.*under 'saving'.*db", warnings_of(ctl)[2])
    assert progress_of(ctl) == 0.0  # nothing was changed by the mistaken calls
    ctl.update_sub_operation("data-loading", 1.0)
    assert progress_of(ctl) == pytest.approx(0.5)
    assert ctl.store.get_status(ctl.job_id) is JobStatus.RUNNING


def test_distinct_mistakes_are_capped(ctl: PipelineController) -> None:
    ctl.initialize_pipeline(["a"])
    for n in range(MAX_PROBLEMS + 20):
        ctl.update_operation(f"op-{n}", 0.5)
    warnings = warnings_of(ctl)
    assert len(warnings) == MAX_PROBLEMS + 1
    assert "further ones are ignored" in warnings[-1]


def test_mistaken_calls_before_a_pipeline_and_odd_messages_do_not_raise(ctl: PipelineController) -> None:
    ctl.update_operation("a", 0.5)
    ctl.next_operation()
    ctl.update_sub_operation("a", "b")  # type: ignore[call-overload]
    ctl.update_sub_operation("a", 3, 0.5)  # type: ignore[call-overload]
    ctl.info(42)  # type: ignore[arg-type]
    job = ctl.store.require_job(ctl.job_id)
    assert [m.message for m in job.info_messages] == ["42"]
    assert len(job.warning_messages) == 5
    assert "initialize_pipeline" in job.warning_messages[0].message


def test_bad_pipeline_definitions_are_value_errors(ctl: PipelineController) -> None:
    for bad in ([], ["a", "a"], [("a", 0)], [("a", -1)], [("a", float("nan"))], [42], "abc", ["a/b"]):
        with pytest.raises(ValueError):
            ctl.initialize_pipeline(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="initialize_pipeline"):
        ctl.define_sub_operations("a", ["x"])
    ctl.initialize_pipeline(["a"])
    with pytest.raises(ValueError, match="'b'"):
        ctl.define_sub_operations("b", ["x"])


def test_messages_reach_the_store_and_logging(ctl: PipelineController, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="jobdeck"):
        ctl.info("Processing question 1")
        ctl.warning("Low confidence in answer")
        ctl.error("API rate limit exceeded")
    job = ctl.store.get_job(ctl.job_id)
    assert job is not None
    assert [m.message for m in job.info_messages] == ["Processing question 1"]
    assert [m.message for m in job.warning_messages] == ["Low confidence in answer"]
    assert [m.message for m in job.error_messages] == ["API rate limit exceeded"]
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.WARNING, logging.ERROR]
    assert "API rate limit exceeded" in caplog.records[-1].getMessage()


def test_complete_and_fail(store: MemoryStore) -> None:
    a = PipelineController(store.create_job("T", "me").id, store)
    assert a.complete({"condensed": 3})
    job = store.get_job(a.job_id)
    assert job is not None and job.status is JobStatus.COMPLETED and job.result == {"condensed": 3}
    assert not a.fail("too late")  # terminal states are final
    b = PipelineController(store.create_job("T", "me").id, store)
    assert b.fail("Error message")
    job = store.get_job(b.job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert [m.message for m in job.error_messages] == ["Error message"]


def test_check_abort_raises_once_abort_is_requested(ctl: PipelineController) -> None:
    ctl.check_abort()
    assert not ctl.is_abort_requested()
    ctl.store.request_abort(ctl.job_id, "admin clicked abort")
    assert ctl.is_abort_requested()
    with pytest.raises(AbortError, match="admin clicked abort"):
        ctl.check_abort()


def test_check_abort_also_stops_a_job_ended_from_outside(ctl: PipelineController) -> None:
    ctl.store.fail_job(ctl.job_id, "reaped as stale")
    with pytest.raises(AbortError):
        ctl.check_abort()


def test_context_manager_completes_on_normal_exit(store: MemoryStore) -> None:
    job_id = store.create_job("T", "me").id
    with PipelineController(job_id, store) as ctl:
        ctl.progress(0.5)
    job = store.get_job(job_id)
    assert job is not None and job.status is JobStatus.COMPLETED and job.progress == 1.0


def test_context_manager_swallows_abort_and_marks_aborted(store: MemoryStore) -> None:
    job_id = store.create_job("T", "me").id
    with PipelineController(job_id, store) as ctl:
        store.request_abort(job_id)
        ctl.check_abort()
        pytest.fail("check_abort did not raise")
    job = store.get_job(job_id)
    assert job is not None and job.status is JobStatus.ABORTED
    assert [m.message for m in job.warning_messages] == ["Abort requested: No message provided", "Job aborted"]


def test_context_manager_fails_with_the_exception_and_propagates(store: MemoryStore) -> None:
    job_id = store.create_job("T", "me").id
    with pytest.raises(KeyError), PipelineController(job_id, store):
        raise KeyError("question q7")
    job = store.get_job(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error_messages[-1].message == "KeyError: 'question q7'"


def test_controller_for_an_unknown_job_is_an_error(store: MemoryStore) -> None:
    from jobdeck import JobNotFoundError

    with pytest.raises(JobNotFoundError, match="nope"):
        PipelineController("nope", store)


def test_default_store_is_used_when_none_is_given() -> None:
    import jobdeck

    previous = jobdeck.get_default_store()
    try:
        store = jobdeck.configure(MemoryStore())
        job = jobdeck.create_job("T", "me")
        PipelineController(job.id).progress(0.5)
        found = jobdeck.get_job(job.id)
        assert found is not None and found.progress == 0.5
        assert [j.id for j in jobdeck.get_active_jobs()] == [job.id]
        assert store.get_job(job.id) is not None
    finally:
        jobdeck.configure(previous)


# ---------------------------------------------------------------------- the published operation tree


class TreeCountingStore(MemoryStore):
    """A memory store that also counts the progress writes carrying an operation tree."""

    def __init__(self) -> None:
        super().__init__()
        self.trees = 0

    def _set_progress(self, job_id: str, value: float, operation: OperationRef | None, now: float,
                      operations: OperationTree | None = None) -> bool:
        self.trees += operations is not None
        return super()._set_progress(job_id, value, operation, now, operations)


def walk(entries: tuple[OperationNode | HiddenOperations, ...], depth: int = 1
         ) -> Iterator[tuple[int, OperationNode | HiddenOperations]]:
    for entry in entries:
        yield depth, entry
        if isinstance(entry, OperationNode):
            yield from walk(entry.children, depth + 1)


def published(store: MemoryStore, job_id: str) -> OperationTree:
    tree = store.require_job(job_id, operations=True).operations
    assert tree is not None
    return tree


def test_tree_is_bounded_in_nodes_and_depth_with_what_is_left_out_counted() -> None:
    store = MemoryStore()
    ctl = PipelineController(store.create_job("Big", "me").id, store)
    ctl.initialize_pipeline([f"op{i}" for i in range(300)])
    path = "op0"
    for level in range(10):  # ten levels below op0, more than are shown
        ctl.define_sub_operations(path, [f"l{level}-{i}" for i in range(3)])
        path += f"/l{level}-0"
    for _ in range(120):
        ctl.next_operation()  # op0..op119 done; op120 current
    ctl.publish_operations()
    tree = published(store, ctl.job_id)
    entries = list(walk(tree.nodes))
    nodes = [(d, e) for d, e in entries if isinstance(e, OperationNode)]
    assert len(nodes) == tree.count() <= MAX_SNAPSHOT_NODES
    assert max(d for d, _ in nodes) <= MAX_SNAPSHOT_DEPTH
    top = [e for e in tree.nodes if isinstance(e, OperationNode)]
    assert len(top) == MAX_SNAPSHOT_CHILDREN
    # The window of the long top-level list holds the current operation, a few done ones before it and the next.
    assert [e.state for e in top if e.id == "op120"] == ["started"]
    assert top[0].state == "done" and top[-1].state == "pending"
    before, after = tree.nodes[0], tree.nodes[-1]
    assert isinstance(before, HiddenOperations) and isinstance(after, HiddenOperations)
    assert before.count + len(top) + after.count == 300
    assert before.done == before.count and after.done == 0
    # Every operation of the top level is either shown or counted; and a JSON round trip keeps all of it.
    assert OperationTree.from_list(json.loads(tree.to_json())) == tree


def test_one_huge_operation_does_not_crowd_out_the_others() -> None:
    store = MemoryStore()
    ctl = PipelineController(store.create_job("Big", "me").id, store)
    ctl.initialize_pipeline(["load", "items", "save"])
    ctl.define_sub_operations("items", [f"item{i}" for i in range(100_000)])
    ctl.define_sub_operations("save", ["local", "remote"])
    ctl.publish_operations()
    tree = published(store, ctl.job_id)
    _load, items, save = tree.nodes
    assert isinstance(items, OperationNode) and isinstance(save, OperationNode)
    assert [c.id for c in save.children if isinstance(c, OperationNode)] == ["local", "remote"]
    shown = [c for c in items.children if isinstance(c, OperationNode)]
    assert len(shown) == MAX_SNAPSHOT_CHILDREN
    assert items.children[-1] == HiddenOperations(100_000 - MAX_SNAPSHOT_CHILDREN, 0)
    assert len(tree.to_json()) < 10_000


def test_tree_rides_along_with_progress_at_a_bounded_rate_and_the_last_one_is_published() -> None:
    store = TreeCountingStore()
    ctl = PipelineController(store.create_job("Loop", "me").id, store)
    ctl.initialize_pipeline(["load", "work"])
    ctl.next_operation()
    started = time.monotonic()
    steps = 20_000
    for i in range(1, steps):
        ctl.progress(i / steps)
    elapsed = time.monotonic() - started
    # Two for the structure and the move to "work", then at most one per interval (and one more for the edge).
    assert store.trees <= 3 + elapsed / OPERATIONS_INTERVAL + 1
    assert store.trees < steps / 100
    assert ctl.complete()
    work = published(store, ctl.job_id).nodes[1]
    assert isinstance(work, OperationNode)
    assert work.progress == round((steps - 1) / steps, 4)  # the value of the last call, published at the end


class Unreachable(MemoryStore):
    """A memory store whose job calls fail with StoreError while ``down`` is set (the reference store as the
    double of an outage; tests/test_outage.py makes real ones)."""

    down = False

    def get_status(self, job_id: str, max_age: float = 0.0) -> JobStatus:
        if self.down:
            raise StoreError("store away for the test")
        return super().get_status(job_id, max_age)

    def _read(self, job_id: str, keep: int | None) -> Any:
        if self.down:
            raise StoreError("store away for the test")
        return super()._read(job_id, keep)

    def _set_progress(self, *args: Any) -> bool:
        if self.down:
            raise StoreError("store away for the test")
        return super()._set_progress(*args)

    def _add_message(self, *args: Any) -> bool:
        if self.down:
            raise StoreError("store away for the test")
        return super()._add_message(*args)


def test_inside_stale_after_an_outage_reaches_no_handler_and_is_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    # Issue 19, item 2: check_abort() raised the store's StoreError into the handler, which failed the job.
    store = Unreachable(stale_after=30)
    job = store.create_job("T", "me")
    ctl = PipelineController(job.id, store)
    ctl.check_abort()
    store.down = True
    with caplog.at_level(logging.WARNING, logger="jobdeck"):
        for i in range(3):
            ctl.check_abort()  # the status last read: running
            assert not ctl.is_abort_requested()
            ctl.progress(i / 10)
            ctl.info("still working")
    assert sum("store is unreachable" in r.getMessage() for r in caplog.records) == 1
    store.down = False
    store.request_abort(job.id, "stop now")
    with pytest.raises(AbortError, match="stop now"):  # an abort it saw still stops the job
        ctl.check_abort()


def test_an_abort_seen_before_the_outage_still_stops_the_job() -> None:
    store = Unreachable(stale_after=30)
    job = store.create_job("T", "me")
    ctl = PipelineController(job.id, store)
    store.request_abort(job.id, "stop")
    assert ctl.is_abort_requested()
    store.down = True
    with pytest.raises(AbortError):
        ctl.check_abort()


def test_past_stale_after_the_store_error_reaches_the_handler() -> None:
    store = Unreachable(stale_after=0.2)
    ctl = PipelineController(store.create_job("T", "me").id, store)
    store.down = True
    ctl.check_abort()  # inside the window
    time.sleep(0.3)  # the outage outlasts the window (its length, not a wait for a condition)
    with pytest.raises(StoreError, match="store away"):
        ctl.check_abort()
    with pytest.raises(StoreError):
        ctl.progress(0.5)
