"""Parameters that explain themselves: a handler's signature becomes a JSON Schema and a validator.

    @runner.job("Import")
    def import_rows(ctl, rows: Annotated[int, Param(ge=1, le=50, description="How many rows")] = 10,
                    mode: Annotated[str, Param(choices=["append", "replace"])] = "append"):
        ...

Each parameter after the controller becomes a field: its annotation (or, without one, the type of its default),
its default (``register(params=...)`` overrides the signature's), and what :class:`Param` says about it (range,
choices, length, description). A parameter annotated with a pydantic model is a nested object. Params are checked
before a job is created, so ``questions=-5`` is refused with the field's name instead of failing 10 ms later.

pydantic (which FastAPI brings) does the checking and writes the schema; it is imported on first use so that
``import jobdeck`` stays light inside job code.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidParamsError

__all__ = ["Param", "TypeParams"]

_NUMBERS = (int, float)


@dataclass(frozen=True)
class Param:
    """What a parameter means and which values it takes; put it in ``Annotated[type, Param(...)]``.

    ``ge``/``gt``/``le``/``lt`` bound a number, ``min_length``/``max_length`` a string or list, ``choices`` lists
    the allowed values, ``description`` is the help text the dashboard's form shows, ``title`` its label.
    """

    description: str = ""
    title: str | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: Sequence[Any] | None = None

    def field(self, default: Any) -> Any:
        """The pydantic ``Field`` with these constraints and ``default`` (``...``: required)."""
        from pydantic import Field

        extra: dict[str, Any] = {}
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(self, name)
            if value is not None:
                extra[name] = value
        return Field(default, description=self.description or None, title=self.title, **extra)


def _split(annotation: Any) -> tuple[Any, Param | None]:
    """``Annotated[T, Param(...), ...]`` -> (``Annotated[T, ...rest]`` or T, the Param)."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        params = [m for m in meta if isinstance(m, Param)]
        rest = [m for m in meta if not isinstance(m, Param)]
        found = params[-1] if params else None
        return (typing.Annotated[(base, *rest)] if rest else base), found
    return annotation, None


class TypeParams:
    """The parameters of one job type: ``schema`` (JSON Schema) and ``validate(params) -> handler kwargs``."""

    def __init__(self, name: str, handler: Callable[..., Any], defaults: Mapping[str, Any]) -> None:
        from pydantic import ConfigDict, create_model

        self.name = name
        try:
            hints = typing.get_type_hints(handler, include_extras=True)
        except Exception:  # unresolvable forward references: fall back to the raw annotations
            hints = {}
        fields: dict[str, Any] = {}
        extra: Literal["allow", "forbid"] = "forbid"
        params = list(inspect.signature(handler).parameters.values())[1:]  # the first one is the controller
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                extra = "allow"
                continue
            if p.kind is p.VAR_POSITIONAL:
                continue
            default = defaults.get(p.name, p.default)
            annotation = hints.get(p.name, p.annotation)
            if annotation is inspect.Parameter.empty:
                annotation = type(default) if default is not inspect.Parameter.empty and default is not None \
                    else Any
            base, meta = _split(annotation)
            if meta is not None and meta.choices:
                base = typing.Literal[tuple(meta.choices)]
            required = default is inspect.Parameter.empty
            info = (meta or Param()).field(... if required else default)
            fields[p.name] = (base, info)
        # Defaults for names the signature does not have reach **kwargs handlers as they are.
        self.extra_defaults = {k: v for k, v in defaults.items() if k not in fields}
        self.model = create_model(f"{name}Params", __config__=ConfigDict(extra=extra), **fields)
        self.fields = list(fields)

    @property
    def schema(self) -> dict[str, Any]:
        """The params as JSON Schema (an object with one property per parameter)."""
        schema: dict[str, Any] = self.model.model_json_schema()
        schema["title"] = f"{self.name} parameters"
        return schema

    def validate(self, params: Any) -> dict[str, Any]:
        """Checked keyword arguments for the handler; :class:`InvalidParamsError` names the first bad field."""
        from pydantic import ValidationError

        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise InvalidParamsError(self.name, None, f"params must be a JSON object, got {type(params).__name__}")
        try:
            model = self.model.model_validate({**self.extra_defaults, **params})
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = [str(part) for part in err.get("loc", ())]
            field = loc[0] if loc else None
            where = ".".join(loc)
            got = err.get("input")
            text = str(err.get("msg", "invalid value"))
            if err.get("type") == "extra_forbidden":
                known = ", ".join(self.fields) or "none"
                text = f"unknown parameter (parameters of {self.name}: {known})"
            elif err.get("type") != "missing":
                text += f", got {_short(got)}"
            more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
            raise InvalidParamsError(self.name, field, f"{where}: {text}{more}") from None
        kwargs = {name: getattr(model, name) for name in self.fields}
        kwargs.update(model.model_extra or {})
        return kwargs


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
