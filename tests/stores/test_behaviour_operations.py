"""The operation tree on every backend: kept beside the progress, read only by the view of one job, coalesced with
the progress writes, shared between store objects, kept after the job ends and gone with the job."""

from __future__ import annotations

from jobdeck.core.model import JobStatus
from jobdeck.core.operations import HiddenOperations, OperationNode, OperationTree
from jobdeck.runtime.controller import PipelineController
from jobdeck.stores import Store

from ..conftest import wait_for
from .conftest import Backend


def tree(done: float, doing: float) -> OperationTree:
    return OperationTree((
        OperationNode("load", done, "done" if done >= 1 else "started"),
        OperationNode("process", doing, "started", 3.0, (
            OperationNode("q1", doing, "started"),
            HiddenOperations(40, 0),
        )),
    ))


def test_tree_is_read_only_by_the_single_job_view(store: Store) -> None:
    job = store.create_job("Import", "alice")
    assert store.require_job(job.id, operations=True).operations is None
    assert store.update_progress(job.id, 0.4, None, tree(1.0, 0.1))
    store.flush()
    read = store.require_job(job.id, operations=True)
    assert read.operations == tree(1.0, 0.1)
    assert read.to_dict()["operations"][1]["children"][1] == {"more": 40, "done": 0}
    # Listings and the plain read never carry it (nor its key in the JSON form).
    assert store.require_job(job.id).operations is None
    assert "operations" not in store.require_job(job.id).to_dict()
    assert [j.operations for j in store.get_active_jobs()] == [None]


def test_progress_without_a_tree_keeps_the_last_one(store: Store) -> None:
    job = store.create_job("Import", "alice")
    store.update_progress(job.id, 0.2, None, tree(0.5, 0.0))
    for i in range(30):  # coalesced on buffered stores: the newest tree is written with the newest value
        store.update_progress(job.id, 0.2 + i / 100, None, tree(1.0, i / 100) if i == 20 else None)
    store.add_info_message(job.id, "a message takes the pending value with it")
    store.flush()
    read = store.require_job(job.id, operations=True)
    assert read.progress == 0.49
    assert read.operations == tree(1.0, 0.2)


def test_tree_is_kept_after_the_job_ends_and_goes_with_it(store: Store) -> None:
    job = store.create_job("Import", "alice")
    store.update_progress(job.id, 0.7, None, tree(1.0, 0.55))
    assert store.complete_job(job.id)
    assert not store.update_progress(job.id, 0.9, None, tree(1.0, 0.9))  # a late write changes nothing
    assert store.require_job(job.id, operations=True).operations == tree(1.0, 0.55)
    assert store.cleanup_past_jobs() == 1
    other = store.create_job("Import", "alice")
    assert store.require_job(other.id, operations=True).operations is None


def test_another_store_object_sees_the_tree(backend: Backend) -> None:
    writer = backend.open()
    reader = backend.open() if backend.shared else writer
    job = writer.create_job("Import", "alice")
    writer.update_progress(job.id, 0.3, None, tree(1.0, 0.3))
    seen = wait_for(lambda: reader.require_job(job.id, operations=True).operations, timeout=5,
                    what="the tree through another store object")
    assert seen == tree(1.0, 0.3)


def test_controller_publishes_the_tree_it_left(store: Store) -> None:
    job = store.create_job("Import", "alice")
    ctl = PipelineController(job.id, store)
    ctl.initialize_pipeline(["load", ("process", 3)])
    ctl.define_sub_operations("process", ["a", "b"])
    ctl.next_operation()
    for i in range(1, 50):  # many values inside one snapshot interval: the last tree must still be published
        ctl.update_operation("process/a", i / 50)
    ctl.complete()
    read = store.require_job(job.id, operations=True)
    assert read.status is JobStatus.COMPLETED
    assert read.operations is not None
    load, process = read.operations.nodes
    assert isinstance(load, OperationNode) and isinstance(process, OperationNode)
    assert (load.id, load.state, load.progress) == ("load", "done", 1.0)
    assert (process.id, process.weight, process.state) == ("process", 3.0, "started")
    assert [(c.id, c.progress) for c in process.children if isinstance(c, OperationNode)] == [("a", 0.98),
                                                                                              ("b", 0.0)]
