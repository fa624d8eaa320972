"""The real-document yardstick stays sound: every gold answer is in its file, every file has
its origin and licence (eval/realdocs/check.py, which exits non-zero on a failure)."""

import subprocess
import sys
from pathlib import Path

CHECK = Path(__file__).resolve().parent.parent / "eval" / "realdocs" / "check.py"


def test_the_real_document_set_checks_out() -> None:
    done = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "OK: every gold answer is in its file" in done.stdout
