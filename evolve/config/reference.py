"""The configuration reference (``docs/configuration.md``), generated from the settings models.

The models are the single source of truth for every setting; this walks ``ProblemConfig``
table by table (a field whose type is a model is a table, a list of models an array of
tables) and writes each key's type, default, bounds and description. ``docs/generate.py``
writes the file and ``tests/test_docs.py`` fails when the committed one is stale, so the
reference cannot drift from the code.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from typing import Any, Iterator, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "length ≥"))

_INTRO = """\
# Configuration reference: `problem.toml`

Generated from the settings models in `evolve/config/` by `python docs/generate.py`
(`tests/test_docs.py` fails when this file is stale). Every table and key a `problem.toml`
may contain is listed here with its type, default and bounds. Unknown keys are errors that
name the closest valid key, so a typo never falls back to a default silently. CLI options
(`evolve run --budget ...`) override the file; the resolved configuration is stored in the
run, so `evolve resume` continues with exactly the same settings.

Only `[problem]` (its `name` and `description`) is required. See
[writing-a-problem.md](writing-a-problem.md) for what the settings are for.
"""


def markdown(root: type[BaseModel] | None = None) -> str:
    """The whole reference as Markdown (``root`` defaults to ``ProblemConfig``)."""
    if root is None:
        from evolve.config.problem import ProblemConfig

        root = ProblemConfig
    parts = [_INTRO]
    for title, model in _tables(root, ()):
        parts.append(_section(title, model))
    return "\n".join(parts)


def _tables(model: type[BaseModel], path: tuple[str, ...]) -> Iterator[tuple[str, type[BaseModel]]]:
    for name, field in model.model_fields.items():
        inner, is_list = _model_of(field.annotation)
        if inner is None:
            continue
        dotted = ".".join((*path, name))
        yield (f"[[{dotted}]]" if is_list else f"[{dotted}]"), inner
        yield from _tables(inner, (*path, name))


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds, and whether it is a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    if origin is list:
        (arg,) = typing.get_args(annotation)
        inner, _ = _model_of(arg)
        return inner, inner is not None
    return None, False


def _section(title: str, model: type[BaseModel]) -> str:
    lines = [f"## `{title}`", ""]
    doc = inspect.getdoc(model)
    if doc and model.__doc__:  # only the model's own docstring, not an inherited one
        lines += [_first_paragraph(doc), ""]
    rows = [(name, field) for name, field in model.model_fields.items() if _model_of(field.annotation)[0] is None]
    if not rows:
        lines.append("Holds only the tables below.")
        return "\n".join(lines) + "\n"
    lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in rows:
        lines.append(f"| `{name}` | {_cell(type_name(field.annotation))} | {_cell(_default(field))} | "
                     f"{_cell(_meaning(field))} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _first_paragraph(doc: str) -> str:
    """The docstring's first paragraph, in Markdown: ``x`` as `x`, a leading "``[table]``:" dropped."""
    paragraph = " ".join(line.strip() for line in doc.strip().split("\n\n")[0].splitlines())
    paragraph = re.sub(r"^``\[[^\]]+\]``:\s*", "", paragraph)
    return (paragraph[:1].upper() + paragraph[1:]).replace("``", "`")


def type_name(annotation: Any) -> str:
    """A TOML-minded name of a field type: ``integer``, ``number or unset``, ``"ring" or "none"``."""
    if annotation is type(None):
        return "unset"
    if annotation in (str, int, float, bool):
        return {str: "string", int: "integer", float: "number", bool: "boolean"}[annotation]
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " or ".join(json.dumps(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        named = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(named) + (" or unset" if type(None) in args else "")
    if origin is list:
        (arg,) = typing.get_args(annotation)
        return f"list of {type_name(arg)}"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined or value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "(table)"
    return f"`{json.dumps(value)}`"


def _meaning(field: FieldInfo) -> str:
    text = (field.description or "").strip()
    bounds = []
    for meta in field.metadata:
        for attribute, symbol in _BOUNDS:
            bound = getattr(meta, attribute, None)
            if bound is not None:
                bounds.append(f"{symbol} {bound}")
    if bounds:
        text = f"{text} ({', '.join(bounds)})" if text else ", ".join(bounds)
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
