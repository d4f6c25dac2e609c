"""The shape of the code: which app may import which, and modules small enough to read."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = ROOT / ".venv" / "bin" / "lint-imports"
APPS = ["accounts", "common", "config", "console", "crowdsourcing", "deliveries", "notifications", "progress"]
APPS += ["results", "webhooks"]
MAX_LINES = 400


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=where, capture_output=True, text=True, timeout=120
    )


def test_apps_import_only_the_apps_below_them():
    done = lint_imports(ROOT)

    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "bad_import"),
    [
        ("common/__init__.py", "import notifications.services"),
        ("notifications/__init__.py", "import deliveries.models"),
        ("deliveries/__init__.py", "import results.services"),
        ("results/__init__.py", "import webhooks.services"),
    ],
)
def test_an_import_against_the_declared_direction_fails_the_check(tmp_path, module, bad_import):
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{bad_import}\n")

    done = lint_imports(tmp_path)

    assert done.returncode != 0
    assert "BROKEN" in done.stdout


def test_no_module_outside_migrations_grows_past_400_lines():
    too_long = {
        str(path.relative_to(ROOT)): lines
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }

    assert too_long == {}, "split these by role"
