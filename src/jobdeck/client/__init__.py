"""A small synchronous client for the jobdeck HTTP API (see docs/design.md).

    with Client("http://127.0.0.1:8000", token="s3cret") as client:
        job = client.start("ArgumentCondensation", params={"questions": 3})
        for event in client.iter_events():
            ...
        final = client.wait(job.id)

``RemoteController`` reports a job that runs away from the store (an external job type) over the API.

Every error answer becomes :class:`jobdeck.ClientError` carrying the server's ``error`` text and the HTTP
status; a server that cannot be reached becomes a ``ClientError`` with ``status_code=None`` and one line that
says so. The token is sent as a bearer header and never appears in ``repr`` or in error messages.
"""

from ._http import DEFAULT_PREFIX, DEFAULT_URL, Client
from ._remote import RemoteController
from ._schedules import LastRun, ScheduleInfo
from ._stream import EventStream, StreamReset

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_URL",
    "Client",
    "EventStream",
    "LastRun",
    "RemoteController",
    "ScheduleInfo",
    "StreamReset",
]
