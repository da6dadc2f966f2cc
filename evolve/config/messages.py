"""Readable validation errors: each pydantic error as one line naming the field and the fix.

pydantic says *what* is wrong ("Extra inputs are not permitted", "Field required"); a user
editing ``problem.toml`` also needs *where* (``features[1].bins``, in TOML's own spelling)
and *what to write instead*. An unknown key is almost always a typo, so the message names
the closest valid key of that table (``difflib``'s ratio, cutoff 0.6) and lists the valid
ones; a missing key says which table it goes in.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError


def describe_errors(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """One line per error of validating ``model``: ``where: what (fix)``."""
    return [describe_error(err, model) for err in exc.errors()]


def describe_error(err: Any, model: type[BaseModel]) -> str:
    loc: tuple = tuple(err.get("loc", ()))
    where = toml_path(loc)
    kind = err.get("type", "")
    if kind == "extra_forbidden" and loc:
        return _unknown_key(loc, model)
    if kind == "missing" and loc:
        table = _table_name(loc[:-1])
        return f"{where}: required, but missing; add `{loc[-1]} = ...` under {table}"
    message = str(err.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    value = err.get("input")
    if kind not in ("missing", "model_type") and not isinstance(value, (dict, list)) and value is not None:
        message += f" (got {value!r:.60})"
    return f"{where}: {message}"


def toml_path(loc: Sequence[Any]) -> str:
    """``('features', 1, 'bins')`` as ``features[1].bins``; the top level as ``(top level)``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def closest(name: str, choices: Sequence[str]) -> str | None:
    """The valid name ``name`` was most likely meant to be, if any is close enough."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in choices}
    return lowered.get(name.lower())


def _unknown_key(loc: tuple, model: type[BaseModel]) -> str:
    key = str(loc[-1])
    fields = valid_keys(model, loc[:-1])
    table = _table_name(loc[:-1])
    is_table = len(loc) == 1
    shown = f"[{key}]" if is_table else f"'{key}'"
    text = f"{toml_path(loc)}: unknown {'table' if is_table else 'key'} {shown} in {table}"
    guess = closest(key, fields) if fields else None
    if guess is not None:
        text += f"; did you mean {f'[{guess}]' if is_table else repr(guess)}?"
    if fields:
        text += f" (valid: {', '.join(sorted(fields))})"
    return text


def valid_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The field names of the table at ``loc`` (list indices skipped), or [] if it is not a model."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside ``X``, ``list[X]``, ``X | None``; else the annotation itself."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
    return annotation


def _table_name(loc: Sequence[Any]) -> str:
    """TOML's own name of the table at ``loc``: ``[search]``, or ``[[features]]`` for an array of tables."""
    names = [str(p) for p in loc if not isinstance(p, int)]
    if not names:
        return "the top level of problem.toml"
    if loc and isinstance(loc[-1], int):
        return f"[[{'.'.join(names)}]] number {loc[-1] + 1}"
    return f"[{'.'.join(names)}]"
