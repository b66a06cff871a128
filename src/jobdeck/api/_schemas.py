"""Pydantic models: request bodies (validated) and response shapes (documentation only).

Responses are serialised by :mod:`jobdeck.api._serialize`; these models give the OpenAPI schema its shapes via
``responses={200: {"model": ...}}`` without costing anything per request.
"""

# Long: every request body and answer shape of the OpenAPI document, declarative and side by side, so that a
# field's name and description are found (and kept alike) in one place; no logic beyond their validators.
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..core.errors import InvalidArgumentError
from ..core.jsoncodec import INT_MAX, INT_MIN, MAX_DEPTH
from ..core.model import MAX_MESSAGE_CHARS
from ._serialize import refuse_nul
from ._spend_schemas import BudgetRequest, ModelUsage, Usage, report_usage_field

__all__ = [
    "AbortAccepted",
    "AbortAllAccepted",
    "AbortRequest",
    "CompleteRequest",
    "Diagnosis",
    "ErrorBody",
    "FailRequest",
    "Job",
    "JobList",
    "JobTypeInfo",
    "MessagesPage",
    "PastSummary",
    "ReportAnswer",
    "ReportRequest",
    "ResumeRequest",
    "ResumedJob",
    "SingleJob",
    "StartRequest",
    "StartedJob",
    "Stats",
    "body_schema",
]

MAX_REPORT_MESSAGES = 1000
# Patterns for the schema, so that it says what the routes refuse (see refuse_nul): text with no NUL character,
# and a name that is not blank either.
NO_NUL = "^[^\\x00]*$"
NAME = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
_TREE_LEVELS = 7  # an operation tree as a report may send it: MAX_SNAPSHOT_DEPTH + 1 levels (see _report.py)


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its nested models written in place, for a request body documented by hand
    (``openapi_extra``): a ``$ref`` to a model that FastAPI never registered would dangle. (No request model is
    recursive; JSON values, which are, refer to the ``JsonValue`` component the app adds to the document.)"""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if _JSON_MARK in node:
                return _json_schema(node[_JSON_MARK], node.get("description"))
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**inline(defs[ref.rsplit("/", 1)[1]]), **inline(rest)}
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result


# Any JSON a job's params and result may be (see jobdeck.core.jsoncodec): integers within 64 bits (a larger one goes
# as a string), at most MAX_DEPTH levels deep. Recursive, so it lives among the document's components (see _app.py).
JSON_VALUE_REF = "#/components/schemas/JsonValue"
JSON_VALUE: dict[str, Any] = {
    "description": f"any JSON value; integers within 64 bits (send larger ones as strings), at most {MAX_DEPTH} "
                   "levels of nesting",
    "anyOf": [{"type": "null"}, {"type": "boolean"}, {"type": "string"},
              {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX},
              {"type": "number", "not": {"type": "integer"}},
              {"type": "array", "items": {"$ref": JSON_VALUE_REF}},
              {"type": "object", "additionalProperties": {"$ref": JSON_VALUE_REF}}]}


_JSON_MARK = "x-jobdeck-json"  # where body_schema puts the reference (pydantic would try to resolve it itself)


def _json_value(schema: dict[str, Any]) -> None:
    description = schema.get("description")
    schema.clear()
    schema.update({_JSON_MARK: "value", "description": description})


def _json_object(schema: dict[str, Any]) -> None:
    description = schema.get("description")
    schema.clear()
    schema.update({_JSON_MARK: "object", "description": description})


def _json_schema(mark: str, description: Any) -> dict[str, Any]:
    if mark == "value":
        return {"$ref": JSON_VALUE_REF, "description": description}
    return {"anyOf": [{"type": "object", "additionalProperties": {"$ref": JSON_VALUE_REF}}, {"type": "null"}],
            "description": description}


def _tree_schema(levels: int) -> dict[str, Any]:
    """The operation tree a report may send, unrolled to ``levels`` levels (what OperationTree.from_list takes)."""
    hidden = {"type": "object", "required": ["more"], "properties": {
        "more": {"type": "integer", "minimum": 0}, "done": {"type": "integer", "minimum": 0}}}
    node: dict[str, Any] = {"type": "object", "required": ["id", "progress"], "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 200},
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "state": {"type": "string", "enum": ["pending", "started", "done"]},
        "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e300}}, "not": {"required": ["more"]}}
    if levels > 1:
        node["properties"]["children"] = {"anyOf": [_tree_schema(levels - 1), {"type": "null"}]}
    return {"type": "array", "items": {"anyOf": [hidden, node]}}


def _operations_schema(schema: dict[str, Any]) -> None:
    description = schema.get("description")
    schema.clear()
    schema.update({"anyOf": [_tree_schema(_TREE_LEVELS), {"type": "null"}], "description": description})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StartRequest(_Strict):
    """``{"jobType": "ArgumentCondensation", "params": {...}}``; ``feature`` is the reference's name for it."""

    # One of jobType and feature names the type (both may, if they name the same one): the schema says "one".
    model_config = ConfigDict(json_schema_extra={
        "anyOf": [{"required": ["jobType"], "properties": {"jobType": {"type": "string"}}},
                  {"required": ["feature"], "properties": {"feature": {"type": "string"}}}],
        "not": {"required": ["jobType", "feature"],
                "properties": {"jobType": {"type": "string"}, "feature": {"type": "string"}}}})

    feature: str | None = Field(None, description="the job type (the reference system's name for the field)",
                                json_schema_extra={"pattern": NAME})
    jobType: str | None = Field(None, description="the job type", json_schema_extra={"pattern": NAME})
    author: str | None = Field(None, description="who starts the job; defaults to the authenticated principal",
                               json_schema_extra={"pattern": NO_NUL})
    params: dict[str, Any] | None = Field(None, description="keyword arguments for the job's handler",
                                          json_schema_extra=_json_object)
    runAt: str | None = Field(None, description="start it later: the job is created queued and starts when this "
                                                "time (ISO 8601) is due; aborting it before then ends it aborted",
                              json_schema_extra={"format": "date-time"})
    budget: BudgetRequest | None = Field(None, description="this job's budget instead of its type's, within the "
                                                           "type's max_budget (400 beyond it)")

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
    message: str = Field(description=f"the text; one longer than {MAX_MESSAGE_CHARS} characters is accepted and "
                                     "kept cut to that length, ending with a marker that says how much was cut")


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A count: JSON does not tell 2 from 2.0 (nor does JSON Schema's "integer"), so a whole float is one too; a
# string or a fraction is not.
Count = Annotated[int, BeforeValidator(_whole)]


class ReportOperation(_Strict):
    id: str = Field(min_length=1)
    index: Count = Field(ge=1)
    total: Count = Field(ge=1)


class ReportRequest(_Strict):
    """Any of the fields, or none (a heartbeat). Progress is clamped to [0, 1]; messages keep their order."""

    progress: float | None = Field(None, description="the job's overall progress, 0 to 1")
    currentOperation: ReportOperation | None = Field(None, description="where the pipeline is")
    operations: list[Any] | None = Field(
        None, description="the operation tree, as GET /single/{id}/progress shows it (entries {id, progress, state, "
                          "weight?, children?} and {more, done}; at most 600 entries in 7 levels)",
        json_schema_extra=_operations_schema)
    messages: list[ReportMessage] | None = Field(None, max_length=MAX_REPORT_MESSAGES,
                                                 description="new messages, oldest first")
    usage: dict[str, Any] | None = report_usage_field()


class CompleteRequest(_Strict):
    result: Any = Field(None, description="kept with the job (JSON)", json_schema_extra=_json_value)


class FailRequest(_Strict):
    message: str | None = Field(None, description=f"added as an error message (cut to {MAX_MESSAGE_CHARS} "
                                                  "characters with a marker, as report messages are)")


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
    usage: ModelUsage | None = Field(None, description="what was spent while this operation was current")


class Diagnosis(BaseModel):
    code: str = Field(description="scheduled, retry_wait, no_worker, slot_busy, dispatching (queued); "
                                  "heartbeat_late, stalled, ok (running); abort_pending (aborting)")
    text: str = Field(description="the sentence a person reads")


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
    diagnosis: Diagnosis | None = Field(None, description="why an active job is where it is (not on finished jobs, "
                                                          "nor in events)")
    operations: list[OperationNode | HiddenOperations] | None = Field(
        None, description="the operation tree as the job last published it (at most 200 operations and 6 levels; "
                          "the rest counted in {more, done} entries). Only in GET /single/{id}/progress: lists and "
                          "events leave it out")
    attempt: int = Field(1, description="which run of the job this is: 1, then one more each time it went back "
                                        "to the queue: a failed run retried (its type's retry), or the worker "
                                        "running it died (requeue_on_worker_lost)")
    maxAttempts: int = Field(1, description="how many runs the job's type allows (1: no retry); the last failure "
                                            "fails the job")
    retryAt: str | None = Field(None, description="while a queued job waits for its next attempt: when that "
                                                  "attempt is due (it keeps its type's max_concurrent slot "
                                                  "meanwhile); null otherwise")
    resumedFrom: str | None = Field(None, description="the id of the job whose saved values and done operations "
                                                      "this one took over (POST /single/{id}/resume)")
    scheduleId: str | None = Field(None, description="the schedule that started the job (GET /schedules)")
    runAt: str | None = Field(None, description="when the job was due: a start with runAt, or its schedule's "
                                                "occurrence; it waits queued until then")
    signature: str | None = Field(None, description="a failed job's cause: its error's exception type and "
                                                    "message with numbers, ids, quoted values and paths "
                                                    "normalised away (GET /failures groups by it); null "
                                                    "unless failed")
    usage: Usage | None = Field(None, description="what the job spent (ctl.usage()); null when it recorded none")


class StartedJob(Job):
    """The answer of a start or a re-run."""

    reportToken: str | None = Field(
        None, description="only for a job of an external type: what the process that runs it sends to that job's "
                          "report endpoints (/single/{id}/report, /complete, /fail, /aborted) and nowhere else")


class SingleJob(Job):
    """One job as ``GET /single/{id}/progress`` shows it: with its operation tree and the names of its saved
    values."""

    savedKeys: list[str] = Field(
        description="the keys of the values the job saved (ctl.save), sorted; jobdeck's own (jobdeck.*) left out, "
                    "values not shown. Only in this view: lists and events leave it out")


class ResumedJob(StartedJob):
    """The answer of a resume: the new job (with ``reportToken`` for an external type, as a start)."""

    note: str | None = Field(None, description="present when the old job left nothing to take over (no saved "
                                               "value, no done operation): the new job starts from the beginning")


class ResumeRequest(_Strict):
    """Resume a failed or aborted job: a new job of its type and params that takes over its saved values and done
    operations."""

    author: str | None = Field(None, description="who resumes the job; defaults to the authenticated principal",
                               json_schema_extra={"pattern": NO_NUL})

    @field_validator("author")
    @classmethod
    def _no_nul(cls, value: str | None, info: ValidationInfo) -> str | None:
        return refuse_nul(info.field_name or "value", value)


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
    stallAfter: float | None = Field(None, description="seconds without a progress change or a message after which "
                                                       "a running job is diagnosed stalled (null: never)")
    params: dict[str, Any]
    paramsSchema: dict[str, Any] = Field(description="the params as JSON Schema: types, ranges, choices, help")
    activeJobIds: list[str]


class RerunRequest(_Strict):
    """Re-run a job: same type, same params, except those given here."""

    params: dict[str, Any] | None = Field(None, description="params that replace the original job's",
                                          json_schema_extra=_json_object)
    author: str | None = Field(None, description="who re-runs the job; defaults to the authenticated principal",
                               json_schema_extra={"pattern": NO_NUL})

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
