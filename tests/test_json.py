"""What may enter (check_json) and how anything stored leaves (dumps): one bad value is that value's problem."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from jobdeck import InvalidArgumentError
from jobdeck.core.jsoncodec import (
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    check_json,
    dumps,
    dumps_text,
    json_problem,
    loads_stored,
    safe_text,
)

BIG = 1237940039285380274899124224  # beyond 64 bits: orjson refuses it, json takes it


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(("value", "where", "why"), [
    ({"questions": BIG}, "params.questions", "outside the 64-bit range"),
    ({"a": [1, {"b": -(2**70)}]}, r"params.a\[1\].b", "outside the 64-bit range"),
    ({"x": float("nan")}, "params.x", "not a JSON number"),
    ([float("inf")], r"params\[0\]", "not a JSON number"),
    ({"s": {1, 2}}, "params.s", "a value of type set is not JSON"),
    ({"t": "\ud800"}, "params.t", "lone surrogate"),
    ({"\udfff": 1}, "params: key", "lone surrogate"),
    ({(1, 2): 1}, "params: key", "a key of type tuple is not JSON"),
    (nested(MAX_DEPTH + 5), "params", "nested deeper than"),
])
def test_check_json_refuses_with_the_path_and_the_reason(value: Any, where: str, why: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"^params must be JSON: {where}.*{why}") as caught:
        check_json(value, "params")
    assert isinstance(caught.value, ValueError) and caught.value.argument == "params"


def test_circular_references_are_named() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert json_problem(loop, "result") == "result[0]: circular reference"
    with pytest.raises(InvalidArgumentError, match="circular reference"):
        check_json({"loop": loop}, "result")


def test_the_64_bit_edges_are_accepted() -> None:
    value = {"low": INT_MIN, "high": INT_MAX, "deep": nested(MAX_DEPTH - 1)}
    assert check_json(value, "params") == value
    assert orjson.loads(dumps(value)) == value


def test_accepted_values_come_back_normalised_like_a_store_would_return_them() -> None:
    original = {"t": (1, 2), 3: "three", "inner": {"k": [True, None, 1.5]}}
    normal = check_json(original, "params")
    assert normal == {"t": [1, 2], "3": "three", "inner": {"k": [True, None, 1.5]}}
    assert normal == json.loads(json.dumps(original))
    normal["inner"]["k"].append("mine")  # the caller's object is not what is stored
    assert original["inner"]["k"] == [True, None, 1.5]


def test_dumps_degrades_each_bad_value_on_its_own() -> None:
    value = {"ok": [1, "two"], "big": BIG, "neg": [-(2**70)], "s": "a\ud800b", 7: "seven", "n": float("nan"),
             "deep": nested(MAX_DEPTH + 10), "obj": object.__new__(type("Thing", (), {"__str__": lambda s: "T"}))}
    data = orjson.loads(dumps(value))
    assert data["ok"] == [1, "two"]
    assert data["big"] == str(BIG) and data["neg"] == [str(-(2**70))]  # exact digits, as a string
    assert data["s"] == "a\\ud800b" and data["7"] == "seven" and data["n"] is None and data["obj"] == "T"
    depth, inner = 0, data["deep"]
    while isinstance(inner, list):
        inner, depth = inner[0], depth + 1
    assert inner == "..." and depth < MAX_DEPTH


def test_dumps_is_plain_orjson_for_what_orjson_takes() -> None:
    value = {"a": [1, 2.5, None, True, "é"], "b": {"c": INT_MAX}}
    assert dumps(value) == orjson.dumps(value)


def test_damaged_stored_json_is_kept_as_text() -> None:
    assert loads_stored('{"n": 1}') == {"n": 1}
    assert loads_stored("{not json") == "{not json"
    assert loads_stored(f'{{"n": {BIG}}}') == {"n": BIG}


def test_safe_text() -> None:
    assert safe_text("plain") == "plain"
    assert safe_text("grüße") == "grüße"
    assert safe_text("x\udc80y") == "x\\udc80y"


def test_stored_json_text_keeps_real_characters_and_escapes_only_what_utf8_cannot_hold() -> None:
    assert dumps_text({"title": "Äänestys", "to": "北京"}) == '{"title":"Äänestys","to":"北京"}'
    assert dumps_text(["a\x00b", 'q"\\']) == '["a\\u0000b","q\\"\\\\"]'  # control characters stay escaped
    # A lone surrogate from a value stored before the door refused them: no UTF-8 encoder (no store) takes it raw.
    legacy = {"name": "Ä\udc80"}
    text = dumps_text(legacy)
    assert text == '{"name":"\\u00c4\\udc80"}' and text.isascii()
    assert loads_stored(text) == legacy
