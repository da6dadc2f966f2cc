"""The report as Markdown: one ``report.md`` plus the figures as PNG files beside it.

For a wiki, a pull request or a lab notebook. The content is the same sections as the
HTML report; collapsible parts become bold-titled paragraphs (Markdown has no portable
``<details>``), tables are pipe tables with ``|`` escaped, code is fenced with a fence
longer than any backtick run inside it.
"""

from __future__ import annotations

import re

from evolve.report.sections import Block, Code, Details, Figure, Section, Table


def render(sections: list[Section], figure_dir: str) -> str:
    """Markdown for ``sections``; figures are referenced as ``{figure_dir}/{stem}.png``."""
    parts = []
    for index, section in enumerate(sections):
        parts.append(("# " if index == 0 else "## ") + section.title)
        parts += [_block(block, figure_dir, index == 0) for block in section.blocks]
    return "\n\n".join(p for p in parts if p) + "\n"


def _block(block: Block, figure_dir: str, kv: bool = False) -> str:
    if isinstance(block, str):
        return block
    if isinstance(block, Table):
        return _table(block, kv)
    if isinstance(block, Figure):
        return f"![{block.stem}]({figure_dir}/{block.stem}.png)\n\n*{block.caption}*"
    if isinstance(block, Code):
        return _fence(block)
    if isinstance(block, Details):
        inner = "\n\n".join(_block(b, figure_dir) for b in block.body)
        return f"**{block.summary}**\n\n{inner}"
    raise TypeError(f"unknown block {type(block).__name__}")


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(table: Table, kv: bool) -> str:
    header = ("", "") if kv else table.header
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _fence(code: Code) -> str:
    longest = max((len(m) for m in re.findall(r"`+", code.text)), default=0)
    fence = "`" * max(3, longest + 1)
    language = "" if code.language == "text" else code.language
    return f"{fence}{language}\n{code.text.rstrip()}\n{fence}"
