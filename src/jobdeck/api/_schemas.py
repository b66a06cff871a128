"""Pydantic models: request bodies (validated) and response shapes (documentation only).

Responses are serialised by :mod:`jobdeck.api._serialize`; these models give the OpenAPI schema its shapes via
``responses={200: {"model": ...}}`` without costing anything per request.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationInfo, field_validator, model_validator

from ..errors import InvalidArgumentError
from ._serialize import refuse_nul

__all__ = [
    "AbortAccepted",
    "AbortAllAccepted",
    "AbortRequest",
    "CompleteRequest",
    "ErrorBody",
    "FailRequest",
    "Job",
    "JobList",
    "JobTypeInfo",
    "MessagesPage",
    "PastSummary",
    "ReportAnswer",
    "ReportRequest",
    "StartRequest",
    "StartedJob",
    "Stats",
]

MAX_REPORT_MESSAGES = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StartRequest(_Strict):
    """``{"jobType": "ArgumentCondensation", "params": {...}}``; ``feature`` is the reference's name for it."""

    feature: str | None = Field(None, description="the job type (the reference system's name for the field)")
    jobType: str | None = Field(None, description="the job type")
    author: str | None = Field(None, description="who starts the job; defaults to the authenticated principal")
    params: dict[str, Any] | None = Field(None, description="keyword arguments for the job's handler")

    @field_validator("feature", "jobType", "author")
    @classmethod
    def _no_nul(cls, value: str | None, info: ValidationInfo) -> str | None:
        return refuse_nul(info.field_name or "value", value)

    @model_validator(mode="after")
    def _one_type(self) -> StartRequest:
        if self.feature is None and self.jobType is None:
            raise InvalidArgumentError("jobType (or feature) is required")
        if self.feature is not None and self.jobType is not None and self.feature != self.jobType:
            raise InvalidArgumentError("feature and jobType name different job types; send one of them")
        name = self.job_type
        if not name.strip():
            raise InvalidArgumentError("jobType must not be empty")
        return self

    @property
    def job_type(self) -> str:
        return self.jobType if self.jobType is not None else (self.feature or "")


class AbortRequest(_Strict):
    reason: str | None = Field(None, max_length=2000, description="shown in the job's messages")


class ReportMessage(_Strict):
    type: Literal["info", "warning", "error"]
    message: str


class ReportOperation(_Strict):
    id: str = Field(min_length=1)
    index: int = Field(ge=1)
    total: int = Field(ge=1)


class ReportRequest(_Strict):
    """Any of the fields, or none (a heartbeat). Progress is clamped to [0, 1]; messages keep their order."""

    progress: float | None = Field(None, description="the job's overall progress, 0 to 1")
    currentOperation: ReportOperation | None = Field(None, description="where the pipeline is")
    operations: list[Any] | None = Field(
        None, description="the operation tree, as GET /single/{id}/progress shows it (entries {id, progress, state, "
                          "weight?, children?} and {more, done}; at most 600 entries in 7 levels)")
    messages: list[ReportMessage] | None = Field(None, max_length=MAX_REPORT_MESSAGES,
                                                 description="new messages, oldest first")


class CompleteRequest(_Strict):
    result: Any = Field(None, description="kept with the job (JSON)")


class FailRequest(_Strict):
    message: str | None = Field(None, description="added as an error message")


class EmptyRequest(_Strict):
    pass


class ReportAnswer(BaseModel):
    status: str = Field(description="the job's status after the report")
    abortRequested: bool = Field(description="true once the job should stop")
    abortReason: str | None


class ErrorBody(BaseModel):
    error: str


class Message(BaseModel):
    type: str = Field(description="info, warning or error")
    message: str
    timestamp: str


class Operation(BaseModel):
    id: str
    index: int
    total: int


class HiddenOperations(BaseModel):
    """Operations a bounded tree left out: how many (their own parts not counted), and how many of them were done."""

    more: int
    done: int


class OperationNode(BaseModel):
    """One operation of the tree: its progress (0-1), ``pending``, ``started`` (or current) or ``done``, its
    weight among its siblings (1 when absent) and its parts."""

    id: str
    progress: float
    state: Literal["pending", "started", "done"]
    weight: float = 1.0
    children: list[OperationNode | HiddenOperations] = Field(default_factory=list)


class Job(BaseModel):
    """A job in the reference shape (camelCase, ISO 8601 UTC times with milliseconds)."""

    id: str
    jobType: str
    author: str
    status: str = Field(description="queued, running, aborting, completed, failed or aborted")
    progress: float
    startTime: str
    endTime: str | None
    lastActivityTime: str
    infoMessages: list[Message]
    warningMessages: list[Message]
    errorMessages: list[Message]
    params: Any = None
    result: Any = None
    currentOperation: Operation | None
    owner: str | None
    heartbeatTime: str | None
    abortReason: str | None
    abortRequestedTime: str | None
    rerunOf: str | None = Field(None, description="the id of the job this one re-ran")
    abortedBy: str | None = Field(None, description="who asked for the abort (the signed-in principal's name)")
    queuedTime: str | None = Field(None, description="when a job run by a task engine was queued; its startTime "
                                                      "is when a worker claimed it")
    operations: list[OperationNode | HiddenOperations] | None = Field(
        None, description="the operation tree as the job last published it (at most 200 operations and 6 levels; "
                          "the rest counted in {more, done} entries). Only in GET /single/{id}/progress: lists and "
                          "events leave it out")
    attempt: int = Field(1, description="which run of the job this is: 1, then one more each time it went back "
                                        "to the queue because the worker running it died (requeue_on_worker_lost)")


class StartedJob(Job):
    """The answer of a start or a re-run."""

    reportToken: str | None = Field(
        None, description="only for a job of an external type: what the process that runs it sends to that job's "
                          "report endpoints (/single/{id}/report, /complete, /fail, /aborted) and nowhere else")


class JobList(RootModel[list[Job]]):
    pass


class MessagesPage(BaseModel):
    messages: list[Message]
    next: str | None = Field(description="pass as ``since`` to get the next page; null when there is none")


class AbortAccepted(BaseModel):
    message: str
    jobId: str
    status: str = Field(description="the job's status now: aborting, or the terminal status it had already reached")


class AbortAllAccepted(BaseModel):
    message: str
    targetedJobs: int = Field(description="how many jobs were active")
    abortRequestedFor: int = Field(description="how many of them are now stopping")
    targetedJobIds: list[str]
    abortRequestedJobIds: list[str]


class JobTypeInfo(BaseModel):
    jobType: str
    external: bool = Field(description="its jobs run elsewhere and report over HTTP")
    title: str
    description: str
    maxConcurrent: int
    timeout: float | None
    params: dict[str, Any]
    paramsSchema: dict[str, Any] = Field(description="the params as JSON Schema: types, ranges, choices, help")
    activeJobIds: list[str]


class RerunRequest(_Strict):
    """Re-run a job: same type, same params, except those given here."""

    params: dict[str, Any] | None = Field(None, description="params that replace the original job's")
    author: str | None = Field(None, description="who re-runs the job; defaults to the authenticated principal")

    @field_validator("author")
    @classmethod
    def _no_nul(cls, value: str | None, info: ValidationInfo) -> str | None:
        return refuse_nul(info.field_name or "value", value)


class SearchHit(Job):
    lastError: str | None = Field(None, description="the first line of the newest error message (failed jobs)")


class SearchPage(BaseModel):
    jobs: list[SearchHit]
    next: str | None = Field(description="pass as ``before`` for the next (older) page; null on the last page")


class Lookup(BaseModel):
    id: str = Field(description="the full id of the one job whose id starts with the prefix")


class Me(BaseModel):
    name: str
    role: str = Field(description="admin or viewer")
    canStart: list[str] = Field(description="job types this principal may start")
    canAbort: bool = Field(description="whether to offer abort controls (each abort is still checked)")


class PastSummary(BaseModel):
    jobType: str
    total: int = Field(description="past jobs of this type, as far as retention keeps them")
    counts: dict[str, int] = Field(description="past jobs per terminal status: completed, failed, aborted")
    recent: list[Job] = Field(description="the newest past jobs, newest ended first, without messages")


class Stats(BaseModel):
    queued: int
    running: int
    aborting: int
    completed: int
    failed: int
    aborted: int
    active: int
    staleAfter: float
