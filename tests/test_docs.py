"""docs/: the generated references are current, the API example runs, every citation and link resolves."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["configuration.md", "cli.md"])
def test_the_generated_reference_is_current(name):
    expected = _generator().generated()[DOCS / name]
    assert (DOCS / name).read_text() == expected, f"docs/{name} is stale: run python docs/generate.py"


def test_the_references_cover_every_setting_and_command():
    from cli import app
    from evolve.config import LimitSettings, RunSettings, SearchSettings

    configuration = (DOCS / "configuration.md").read_text()
    for model in (LimitSettings, RunSettings, SearchSettings):
        for field in model.model_fields:
            assert f"| `{field}` |" in configuration, field
    cli = (DOCS / "cli.md").read_text()
    for command in app.registered_commands:
        assert f"## evolve {command.name or command.callback.__name__}" in cli


def test_the_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch):
    generator = _generator()
    stale = tmp_path / "cli.md"
    stale.write_text("old\n")
    monkeypatch.setattr(generator, "generated", lambda: {stale: "new\n"})
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    assert generator.main(["--check"]) == 1 and stale.read_text() == "old\n"
    assert generator.main([]) == 0 and stale.read_text() == "new\n"


def test_the_api_example_runs_as_written(tmp_path):
    text = (DOCS / "api.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", text, re.S)
    script = tmp_path / "example.py"  # a main guard, as in any script that starts processes
    script.write_text('if __name__ == "__main__":\n' + "".join(f"    {line}\n" for line in example.splitlines()))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RunView(" in result.stdout and (tmp_path / "report.html").is_file()
    assert result.stdout.strip().splitlines()[-1] == "21"  # resumed to 20 candidates plus the seed


def test_no_code_cites_a_document_that_is_not_in_the_repository():
    cited = []
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", (DOCS / "architecture.md").read_text(), re.M)}
    for path in [ROOT / "cli.py", *ROOT.glob("evolve/**/*.py"), *ROOT.glob("evaluators/*.py"), *ROOT.glob("sandbox/*.py")]:
        text = path.read_text()
        assert "DESIGN.md" not in text, f"{path.relative_to(ROOT)} cites DESIGN.md; cite docs/architecture.md"
        cited += [(path, int(n)) for n in re.findall(r"docs/architecture\.md section (\d+)", text)]
    assert cited, "the code cites the architecture document"
    assert all(n in sections for _, n in cited), [(str(p.relative_to(ROOT)), n) for p, n in cited if n not in sections]


def test_relative_links_in_the_docs_resolve():
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
