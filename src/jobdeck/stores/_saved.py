"""Saved values: the rules every store applies to what a job keeps for a later attempt or a resumed job.

A job saves JSON values under names (``ctl.save(key, value)``); a retry of the job, or a job resumed from it,
reads them back instead of paying for that work again. The values live in the store beside the job and go
with it. Each is stored as its JSON text, and the bound is on those texts: at most ``max_saved_bytes`` (UTF-8
bytes, 1 MiB by default) per job, checked by the backend in the same atomic step that writes, so that two
savers of one job cannot both squeeze under it.

Names starting with :data:`RESERVED_PREFIX` belong to jobdeck itself (the controller records each finished
operation as ``jobdeck.done:<operation path>``); :func:`shown` leaves them out of what people see.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Protocol

from ..core.errors import InvalidArgumentError

__all__ = ["DEFAULT_MAX_SAVED_BYTES", "MAX_KEY_CHARS", "RESERVED_PREFIX", "SavedSteps", "Saving", "check_key",
           "check_limit", "shown", "size_text", "text_bytes", "too_large"]

DEFAULT_MAX_SAVED_BYTES = 1024 * 1024
MAX_KEY_CHARS = 200
RESERVED_PREFIX = "jobdeck."


class Saving(enum.Enum):
    """What a backend's ``_save_values`` step did."""

    SAVED = "saved"
    FINISHED = "finished"  # the job reached a terminal status: nothing written
    FULL = "full"  # the job's values would exceed the bound: nothing written


class SavedSteps(Protocol):
    """A backend's storage steps for saved values (``Store._saved_steps()``), each atomic in the backend's way."""

    def save(self, job_id: str, texts: Mapping[str, str], limit: int) -> tuple[Saving, int]:
        """Directly (durable when it returns, never buffered) and atomically: unless the job is terminal
        (``FINISHED``) or its saved values would then exceed ``limit`` bytes in all (``FULL``), set each key to its
        JSON text, replacing a value of the same key. Returns the outcome and the job's total in UTF-8 bytes of the
        texts, as it is (``SAVED``) or would have been (``FULL``). JobNotFoundError for an unknown id."""

    def values(self, job_id: str) -> dict[str, str] | None:
        """The job's saved values as stored (key -> JSON text), or None if there is no such job."""

    def keys(self, job_id: str) -> list[str] | None:
        """The keys of the job's saved values (the values not read), or None if there is no such job."""


def check_key(key: object) -> str:
    """``key`` if it can name a saved value (a non-empty string of at most 200 characters, no NUL)."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS or "\x00" in key:
        shown_key = key if not isinstance(key, str) or len(key) <= 60 else key[:60] + "..."
        raise InvalidArgumentError(
            f"a saved value's key must be a non-empty string of at most {MAX_KEY_CHARS} characters without NUL, "
            f"got {shown_key!r}", "key")
    return key


def check_limit(value: object) -> int:
    """``max_saved_bytes`` as a store takes it: a positive whole number of bytes."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"max_saved_bytes must be a positive integer, got {value!r}")
    return value


def text_bytes(text: str) -> int:
    """The size a stored JSON text counts for: its UTF-8 bytes (what SQLite, PostgreSQL and Redis measure)."""
    return len(text.encode("utf-8"))


def size_text(size: int) -> str:
    """``512 B``, ``300 KiB``, ``1.2 MiB``: a size a person reads at a glance."""
    if size < 1024:
        return f"{size} B"
    for unit, scale in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if size >= scale:
            figure = size / scale
            return f"{figure:.0f} {unit}" if figure >= 100 or figure == int(figure) else f"{figure:.1f} {unit}"
    return f"{size} B"  # pragma: no cover - the loop always answers for size >= 1024


def too_large(job_id: str, keys: list[str], size: int, total: int, limit: int) -> InvalidArgumentError:
    """The error of a save beyond the bound, with the sizes: what was saved, what the job would hold, the bound."""
    what = f"saving {keys[0]!r}" if len(keys) == 1 else f"copying {len(keys)} saved values"
    return InvalidArgumentError(
        f"{what} ({size_text(size)}) would bring job {job_id}'s saved values to {size_text(total)}; at most "
        f"{size_text(limit)} per job (max_saved_bytes={limit}): save smaller values, or fewer", "value")


def shown(keys: Iterable[str]) -> list[str]:
    """The keys a person sees, sorted: jobdeck's own (``jobdeck.`` ...) left out."""
    return sorted(k for k in keys if not k.startswith(RESERVED_PREFIX))
