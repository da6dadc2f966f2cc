"""A problem folder on disk: its config, seed program, trusted evaluator and baselines.

Layout (docs/architecture.md section 4)::

    problem.toml   initial.py   evaluate.py   baselines/*.py   README.md

Built-in problems live in the ``problems`` folder installed beside the ``evolve`` package
(found from this file, never by importing ``problems``: a folder of that name in the current
directory would shadow it); a user's folder anywhere works the same.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from evolve.config import ConfigError, ProblemConfig, load_problem_config

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "problems"


@dataclass(frozen=True)
class Problem:
    root: Path
    config: ProblemConfig
    initial_code: str
    baselines: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.problem.name

    @property
    def has_fingerprint(self) -> bool:
        """Whether evaluate.py defines a top-level ``fingerprint`` probe (read from its text, not imported)."""
        try:
            tree = ast.parse((self.root / "evaluate.py").read_text())
        except (OSError, SyntaxError, ValueError):
            return False
        return any(isinstance(node, ast.FunctionDef) and node.name == "fingerprint" for node in tree.body)


def builtin_problems() -> list[Path]:
    """Folders of the built-in problems, sorted by name."""
    return sorted(p for p in BUILTIN_DIR.iterdir() if (p / "problem.toml").is_file())


def resolve_problem_dir(spec: str | Path) -> Path:
    """A path to a folder, or the name of a built-in problem; ConfigError naming the choices otherwise."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve()
    builtin = BUILTIN_DIR / str(spec)
    if builtin.is_dir():
        return builtin
    names = ", ".join(p.name for p in builtin_problems()) or "(none)"
    raise ConfigError(f"problem {str(spec)!r}: no such folder, and not a built-in problem (built-ins: {names})")


def load_problem(spec: str | Path) -> Problem:
    """Load and validate a problem folder; raise ConfigError naming the file and the fix."""
    root = resolve_problem_dir(spec)
    config = load_problem_config(root / "problem.toml")
    initial = root / "initial.py"
    if not initial.is_file():
        raise ConfigError(f"{initial}: missing (the seed program the search starts from)")
    if not (root / "evaluate.py").is_file():
        raise ConfigError(f"{root / 'evaluate.py'}: missing (the trusted evaluator defining evaluate(candidate))")
    code = initial.read_text()
    _check_seed(initial, code)
    baselines = {p.stem: p.read_text() for p in sorted((root / "baselines").glob("*.py"))}
    return Problem(root=root, config=config, initial_code=code, baselines=baselines)


def _check_seed(path: Path, code: str) -> None:
    from evolve.edits import EditError, blocks

    try:
        compile(code, str(path), "exec")
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: the seed program does not compile: {exc.msg}") from None
    try:
        blocks(code)
    except EditError as exc:
        raise ConfigError(f"{path}: {exc}") from None
