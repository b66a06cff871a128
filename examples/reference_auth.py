"""The reference system's permission model: only a signed-in admin of the host app may use jobdeck.

    uvicorn --app-dir examples reference_auth:app

The host app owns the session (here a cookie looked up in a fixed table, standing in for a real session store);
jobdeck asks it through ``auth``: no session is a 401, a user who is not an admin a 403 ``{"error": "Forbidden"}``,
an admin's email becomes the author of the jobs they start.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from starlette.requests import HTTPConnection

from jobdeck import JobRunner, MemoryStore, PipelineController
from jobdeck.api import ApiError, create_app

SESSIONS = MappingProxyType({
    "session-of-ada": {"email": "ada@example.com", "role": "admin"},
    "session-of-bob": {"email": "bob@example.com", "role": "user"},
})


def admin_only(request: HTTPConnection) -> dict[str, Any]:
    user = SESSIONS.get(request.cookies.get("session", ""))
    if user is None:
        raise ApiError(401, "Unauthorized")
    if user["role"] != "admin":
        raise ApiError(403, "Forbidden")
    return user  # jobdeck records user["email"] as the author


runner = JobRunner(MemoryStore())


@runner.job("Greet")
def greet(ctl: PipelineController, name: str = "world") -> str:
    ctl.info(f"greeting {name}")
    return f"hello {name}"


app = create_app(runner=runner, auth=admin_only)
