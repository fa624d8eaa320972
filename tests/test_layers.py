"""The layers of qa import downward only, as pyproject.toml's import-linter contracts say;
the contracts are checked here, and shown to catch an upward import (unit tier)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the qa package of `root`, not the installed one
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True
    )


def test_qa_keeps_its_layers() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "qa", tmp_path / "qa", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    store = tmp_path / "qa" / "index" / "store.py"
    store.write_text(store.read_text() + "\nfrom qa.service import build_service  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1
    assert "qa.index is not allowed to import qa.service" in done.stdout
    assert "qa.index.store -> qa.service" in done.stdout
    assert "Contracts: 0 kept, 2 broken." in done.stdout
