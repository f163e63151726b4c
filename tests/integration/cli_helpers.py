"""Running the CLI in process and reading its one-line errors (shared by the CLI tests)."""

from __future__ import annotations

import pytest

from agora.cli.main import run


def agora(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``agora *args`` in this process; return (exit code, stdout, stderr)."""
    code = run(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def one_line_error(err: str) -> str:
    """The single ``error: …`` line in ``err`` (asserting there is exactly one, and no traceback)."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and not ln.startswith("note:")]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]
