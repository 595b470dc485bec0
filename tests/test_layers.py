"""The layering contracts in pyproject.toml hold, and they are not a check that cannot fail: a copy of
the code with one forbidden import (an engine module importing the web application or the domain, also
inside a function; a cycle inside the engine) breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in ("engine", "tasks", "web"):
        shutil.copytree(PROJECT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_the_contracts(copy: Path) -> None:
    result = lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("KEPT") == 3 and "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("engine/clock.py", "from web import create_app", "Layers"),
        ("engine/blueprint.py", "def f() -> None:\n    from tasks import people", "Layers"),
        ("tasks/dates.py", "import web.auth", "Layers"),
        ("engine/sandbox.py", "import engine.runner", "No import cycles"),
    ],
)
def test_a_forbidden_import_breaks_them(copy: Path, module: str, line: str, broken: str) -> None:
    with (copy / module).open("a", encoding="utf-8") as f:
        f.write(f"\n\n{line}  # a deliberate violation\n")
    result = lint(copy)
    assert result.returncode == 1, result.stdout
    assert "Broken contracts" in result.stdout
    assert broken in result.stdout.split("Broken contracts", 1)[1], result.stdout
