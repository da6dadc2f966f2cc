"""Write the generated references: docs/configuration.md (settings) and docs/cli.md (commands).

    python docs/generate.py          # rewrite both files
    python docs/generate.py --check  # exit 1, naming the stale file, if either is out of date

The configuration reference comes from the settings models (``evolve.config.reference``);
the CLI reference from the typer app's own declarations (each command's docstring and its
``typer.Argument`` / ``typer.Option`` help texts, which are what ``evolve COMMAND --help``
prints), so the two say the same thing.
``tests/test_docs.py`` runs the check.
"""

from __future__ import annotations

import inspect
import sys
import typing
from pathlib import Path
from typing import Any

import typer

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOCS = ROOT / "docs"

_CLI_INTRO = """\
# CLI reference: `evolve`

Generated from the typer app in `cli.py` by `python docs/generate.py` (`tests/test_docs.py`
fails when this file is stale); `evolve COMMAND --help` prints the same text. Every command
that reads a run takes the run directory `evolve run` printed; the reporting commands take
`--json` for machine-readable output.
"""


def cli_reference() -> str:
    """Every command of the app from its declaration: the function's docstring and its typer parameters."""
    from cli import app

    commands = [(_command_name(info), info.callback) for info in app.registered_commands]
    parts = [_CLI_INTRO, "| command | what it does |", "| --- | --- |"]
    for name, callback in commands:
        parts.append(f"| [`evolve {name}`](#evolve-{name}) | {_first_paragraph(callback.__doc__)} |")
    parts.append("")
    parts += [_command(name, callback) for name, callback in commands]
    return "\n".join(parts)


def _command_name(info: Any) -> str:
    return info.name or info.callback.__name__.replace("_", "-")


def _first_paragraph(text: str | None) -> str:
    return _cell(inspect.cleandoc(text or "").split("\n\n")[0])


def _command(name: str, callback: Any) -> str:
    hints = typing.get_type_hints(callback)
    arguments, options = [], []
    for parameter in inspect.signature(callback).parameters.values():
        info = parameter.default
        kind = hints.get(parameter.name)
        if isinstance(info, typer.models.ArgumentInfo):
            arguments.append((parameter.name, info, kind))
        elif isinstance(info, typer.models.OptionInfo):
            options.append((parameter.name, info, kind))
    usage = " ".join([f"evolve {name}", *(_metavar(n, i) for n, i, _ in arguments), "[OPTIONS]" if options else ""])
    lines = [f"## evolve {name}", "", inspect.cleandoc(callback.__doc__ or ""), "", "```", usage.strip(), "```", ""]
    if arguments:
        lines += ["| argument | meaning |", "| --- | --- |"]
        lines += [f"| `{_metavar(n, i)}` | {_cell(i.help or '')} |" for n, i, _ in arguments]
        lines.append("")
    if options:
        lines += ["| option | type | default | meaning |", "| --- | --- | --- | --- |"]
        for option_name, info, kind in options:
            flags = info.param_decls or (f"--{option_name.replace('_', '-')}",)
            lines.append(f"| {', '.join(f'`{f}`' for f in flags)} | {_type(kind)} | {_default(info.default, kind)} | "
                         f"{_cell(info.help or '')} |")
        lines.append("")
    return "\n".join(lines)


def _metavar(name: str, info: Any) -> str:
    text = name.upper()
    return f"[{text}]" if info.default is not ... else text


def _type(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        return f"{_type(typing.get_args(annotation)[0])}, repeatable"
    return {bool: "flag", int: "integer", float: "number", str: "text", Path: "path"}.get(annotation, str(annotation))


def _default(value: Any, annotation: Any) -> str:
    if annotation is bool:
        return "on" if value else "off"
    if value is None or value is ...:
        return "—"
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def generated() -> dict[Path, str]:
    from evolve.config.reference import markdown

    return {DOCS / "configuration.md": markdown(), DOCS / "cli.md": cli_reference()}


def main(argv: list[str]) -> int:
    stale = []
    for path, text in generated().items():
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(path)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        print(f"{path.relative_to(ROOT)} is stale: run python docs/generate.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
