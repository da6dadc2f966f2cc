"""One self-contained HTML file: inline CSS, figures as base64 PNG, no script, no request.

The page declares a Content-Security-Policy that allows only inline styles and ``data:``
images, so even a program text that slipped through escaping could not load anything:
the report opens offline, in a mail attachment or an archive, and shows the same. Program
code is untrusted (an LLM wrote it) and is always escaped (``html.escape``).
"""

from __future__ import annotations

import base64
import html

from evolve.report.sections import Block, Code, Details, Figure, Section, Table

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0; color: #1d1d1f;
       background: #fafafa; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
nav { position: sticky; top: 0; background: #1d3557; padding: .5rem 2rem; z-index: 2; }
nav a { color: #f1faee; margin-right: 1.1rem; text-decoration: none; font-size: .9rem; }
h1 { font-size: 1.6rem; margin-top: .5rem; } h2 { font-size: 1.25rem; border-bottom: 2px solid #457b9d;
     padding-bottom: .2rem; margin-top: 2.4rem; }
section { scroll-margin-top: 3rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .86rem; background: white; }
th, td { border: 1px solid #ddd; padding: .28rem .55rem; text-align: left; vertical-align: top; }
th { background: #e9eef3; }
table.kv td:first-child { font-weight: 600; white-space: nowrap; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; background: white; }
figcaption { font-size: .82rem; color: #555; margin-top: .3rem; }
pre { background: #f4f4f4; border: 1px solid #ddd; padding: .6rem .8rem; overflow-x: auto; font-size: .8rem;
      line-height: 1.35; }
pre.text { white-space: pre-wrap; }
pre .add { color: #116329; background: #dafbe1; display: block; } pre .del { color: #82071e; background: #ffebe9;
      display: block; } pre .hunk { color: #6e7781; display: block; }
details { margin: .5rem 0; } summary { cursor: pointer; font-weight: 600; font-size: .9rem; }
details details summary { font-weight: 400; }
p { max-width: 80ch; }
"""


def render(sections: list[Section], plots: dict[str, bytes], title: str) -> str:
    nav = "".join(f'<a href="#{s.id}">{html.escape(_short(s))}</a>' for s in sections)
    body = "\n".join(_section(s, plots, first=i == 0) for i, s in enumerate(sections))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _short(section: Section) -> str:
    return "Overview" if section.id == "overview" else section.title


def _section(section: Section, plots: dict[str, bytes], first: bool) -> str:
    heading = "h1" if first else "h2"
    inner = "\n".join(_block(b, plots, kv=first) for b in section.blocks)
    return f'<section id="{section.id}">\n<{heading}>{html.escape(section.title)}</{heading}>\n{inner}\n</section>'


def _block(block: Block, plots: dict[str, bytes], kv: bool = False) -> str:
    if isinstance(block, str):
        return f"<p>{_inline(block)}</p>"
    if isinstance(block, Table):
        return _table(block, kv)
    if isinstance(block, Figure):
        data = plots.get(block.stem)
        if data is None:
            return ""
        encoded = base64.b64encode(data).decode("ascii")
        return (f'<figure><img alt="{html.escape(block.stem)}" src="data:image/png;base64,{encoded}">'
                f"<figcaption>{_inline(block.caption)}</figcaption></figure>")  # fmt: skip
    if isinstance(block, Code):
        return _code(block)
    if isinstance(block, Details):
        inner = "\n".join(_block(b, plots) for b in block.body)
        return f"<details{' open' if block.open else ''}><summary>{html.escape(block.summary)}</summary>\n{inner}\n</details>"
    raise TypeError(f"unknown block {type(block).__name__}")


def _inline(text: str) -> str:
    """Escape ``text``, showing `backticked` spans as code."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _table(table: Table, kv: bool) -> str:
    head = "" if kv else "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.header) + "</tr>"
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    return f'<table{" class=kv" if kv else ""}>{head}{rows}</table>'


def _code(code: Code) -> str:
    if code.language == "text":
        return f'<pre class="text">{html.escape(code.text)}</pre>'
    if code.language != "diff":
        return f"<pre>{html.escape(code.text)}</pre>"
    lines = []
    for line in code.text.splitlines():
        escaped = html.escape(line) or " "
        if line.startswith("+") and not line.startswith("+++"):
            lines.append(f'<span class="add">{escaped}</span>')
        elif line.startswith("-") and not line.startswith("---"):
            lines.append(f'<span class="del">{escaped}</span>')
        elif line.startswith("@@"):
            lines.append(f'<span class="hunk">{escaped}</span>')
        else:
            lines.append(escaped + "\n")
    return "<pre>" + "".join(lines) + "</pre>"
