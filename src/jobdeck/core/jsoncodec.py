"""JSON at jobdeck's edges: what may enter (``check_json``) and how anything stored leaves (``dumps``).

Params and results cross processes as JSON (never pickle), are stored by one encoder (the standard library's, in
the SQLite and Redis stores) and served by another (orjson, in the API). The two disagree at the margins:
orjson refuses integers outside 64 bits, lone surrogates and nesting deeper than 254, which ``json`` accepts.
So the door is narrower than either: :func:`check_json` accepts a value only if both encoders take it, and
returns it *normalised* (a JSON round trip: tuples become lists, keys strings, subclasses plain types), so that
the memory store keeps exactly what SQLite and Redis would give back, and not the caller's mutable object.

Where the caller asks (``check_json(..., nul=False)``: params, which a request sends), a string or key holding
U+0000 is refused too, as in every other text a request sends; results keep it (JSON text writes it as the escape
``\\u0000``, which every store keeps).

Stored JSON text keeps its characters as they are (``ensure_ascii=False``): a search compares words with that text,
and ``\\u00c4`` would neither match ``Ä`` nor fail to match ``u00``.

Values already stored by an older version may still be outside that door. :func:`dumps` never fails on them: a
value orjson cannot encode is degraded on its own, leaving the rest of the answer intact: an integer beyond 64
bits becomes its exact decimal digits as a string, a lone surrogate its ``\\udXXX`` escape, a non-string key
its JSON text, nesting deeper than :data:`MAX_DEPTH` the string ``"..."``, any other object its ``str()``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from .errors import InvalidArgumentError

__all__ = ["INT_MAX", "INT_MIN", "MAX_DEPTH", "check_json", "compact", "dumps", "dumps_text", "json_problem",
           "loads_event_data", "loads_stored", "safe_text"]

INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1  # what orjson encodes (signed and unsigned 64-bit)
# orjson gives up at 254 nested containers; a job's JSON form wraps params and results in two or three more.
MAX_DEPTH = 200
_SCALARS = (str, int, float, bool, type(None))


def _key_text(key: object) -> str:
    """A dict key as ``json.dumps`` writes it."""
    if isinstance(key, str):
        return key
    return json.dumps(key) if isinstance(key, bool | type(None) | float) else str(key)


def safe_text(text: str) -> str:
    """``text`` with lone surrogates (which no UTF-8 encoder takes) written as ``\\udXXX`` escapes."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


_NUL_PROBLEM = "contains a NUL character (U+0000), which jobdeck does not take here"


def _text_problem(text: str, nul: bool = True) -> str | None:
    if not nul and "\x00" in text:
        return _NUL_PROBLEM
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def _scalar_problem(value: object, nul: bool = True) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if INT_MIN <= value <= INT_MAX:
            return None
        return f"integer {value} is outside the 64-bit range JSON readers hold exactly; send it as a string"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a JSON number"
    if isinstance(value, str):
        return _text_problem(value, nul)
    return f"a value of type {type(value).__name__} is not JSON (use objects, arrays, strings, numbers, booleans, null)"


def json_problem(value: Any, name: str = "value", *, nul: bool = True) -> str | None:
    """The first place where ``value`` is not JSON that jobdeck can store and serve, as ``"name.a[2]: why"``;
    None when there is none. ``nul=False``: a string or key holding U+0000 is a problem too."""
    stack: list[tuple[Any, str, int]] = [(value, name, 0)]
    on_path: dict[int, int] = {}  # id of a container being walked -> depth (a cycle is a container seen above)
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, _SCALARS):
            problem = _scalar_problem(item, nul)
            if problem is not None:
                return f"{where}: {problem}"
            continue
        if not isinstance(item, dict | list | tuple):
            return f"{where}: {_scalar_problem(item)}"
        if depth >= MAX_DEPTH:
            return f"{where}: nested deeper than {MAX_DEPTH} levels"
        seen_at = on_path.get(id(item))
        if seen_at is not None and seen_at < depth:
            return f"{where}: circular reference"
        on_path[id(item)] = depth
        if isinstance(item, dict):
            children = []
            for key, child in item.items():
                why = (_scalar_problem(key, nul) if isinstance(key, _SCALARS)
                       else f"a key of type {type(key).__name__} is not JSON (keys are strings)")
                if why is not None:
                    return f"{where}: key {repr(key)[:60]}: {why}"
                children.append((child, f"{where}.{_key_text(key)}", depth + 1))
            stack.extend(reversed(children))
        else:
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in reversed(list(enumerate(item))))
    return None


def check_json(value: Any, name: str, *, nul: bool = True) -> Any:
    """``value`` normalised by a JSON round trip, or InvalidArgumentError naming the first place that is not
    JSON jobdeck can store and serve (see the module docstring). ``nul=False`` also refuses U+0000 in any
    string or key (request input: params)."""
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not _text_problem(value, nul)):
        return value
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        normal = json.loads(text)
        orjson.dumps(normal)
        if _depth_exceeds(normal):
            raise ValueError("too deep")
    except (TypeError, ValueError, RecursionError):
        problem = json_problem(value, name)
        raise InvalidArgumentError(f"{name} must be JSON: {problem or 'it cannot be encoded'}", name) from None
    # json writes U+0000 as the escape \u0000 (and a backslash as \\): only a hit here needs the walk that names it
    if not nul and "\\u0000" in text:
        problem = json_problem(normal, name, nul=False)
        if problem is not None:
            raise InvalidArgumentError(problem, name)
    return normal


def _depth_exceeds(value: Any) -> bool:
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [c for v in level if isinstance(v, dict | list) for c in (v.values() if isinstance(v, dict) else v)
                 if isinstance(c, dict | list)]
        if not level:
            return False
    return True


def _degrade(value: Any, depth: int) -> Any:
    """A copy of ``value`` that orjson encodes (see the module docstring for what becomes of what)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, int):
        return int(value) if INT_MIN <= value <= INT_MAX else str(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {safe_text(_key_text(k)): _degrade(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_degrade(v, depth + 1) for v in value]
    return safe_text(str(value))


def dumps(value: Any) -> bytes:
    """``orjson.dumps(value)``, except that it never fails: what orjson cannot encode is degraded on its own
    (see the module docstring), the rest is encoded as usual."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps(_degrade(value, 0))


def compact(data: bytes) -> bytes:
    """An exact-size copy of ``data``, for bytes that are kept (caches). orjson returns its output in the buffer
    it grew while writing, which can be many times the output's length (measured with orjson 3.13: 608 bytes of
    JSON held 8 KiB, 7.7 kB held 64 KiB), so a cache that counts ``len()`` would hold ten times its bound."""
    return bytes(memoryview(data))


def loads_stored(text: str | bytes) -> Any:
    """JSON text a store wrote, decoded; text that does not decode (damaged by hand, say) is kept as the string
    itself, so that one damaged value does not hide the job (or the event) that carries it."""
    try:
        return json.loads(text)
    except ValueError:
        return text if isinstance(text, str) else text.decode("utf-8", "backslashreplace")


def loads_event_data(text: str | bytes) -> dict[str, Any]:
    """An event's stored ``data`` object; ``{}`` for one that does not decode to an object."""
    value = loads_stored(text)
    return value if isinstance(value, dict) else {}


def dumps_text(value: Any) -> str:
    """Compact JSON text, as the SQL and Redis stores write params, results and event data (and search params):
    characters as they are, not ``\\uXXXX`` escapes, except for a lone surrogate from a value stored before
    the door refused them (no UTF-8 encoder takes one), which keeps its escape."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value, separators=(",", ":"))
    return text
