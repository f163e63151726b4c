"""What the CLI prints for people: tokens not wei, ISO dates in UTC, no Python reprs; and `--json` on
the commands that report (`devnet down`, `storage get`)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agora.cli.main import app
from agora.cli.options import readable_rows
from agora.units import format_time


def test_format_time_is_iso_utc() -> None:
    assert format_time(0) == "-" and format_time(None) == "-"
    assert format_time(1_700_000_000) == "2023-11-14 22:13:20 UTC"


def test_readable_rows() -> None:
    rows = dict(readable_rows({
        "address": "0xabc", "stake_wei": 1_500 * 10**18, "owed_wei": "250", "kinds": ["onnx-classify", "train-digits"],
        "active": True, "unlock_at": 1_700_000_000, "daemon": {"assigned": 3}, "parent": None,
    }))
    assert rows == {
        "address": "0xabc", "stake": "1,500 AGR", "owed": "0.00000000000000025 AGR",
        "kinds": "onnx-classify, train-digits", "active": "yes", "unlock at": "2023-11-14 22:13:20 UTC",
        "daemon": "assigned: 3", "parent": "-",
    }
    assert not any("[" in v or "{" in v or "'" in v for v in rows.values())


def test_devnet_down_json_when_none_runs(agora_home: Path) -> None:
    result = CliRunner().invoke(app, ["devnet", "down", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"stopped": False, "state_deleted": False}


def test_storage_get_json(agora_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    src = tmp_path / "blob.bin"
    src.write_bytes(b"hello agora")
    put = runner.invoke(app, ["storage", "put", str(src), "--json"])
    cid = json.loads(put.stdout)["cid"]
    dest = tmp_path / "out.bin"
    got = runner.invoke(app, ["storage", "get", cid, "-o", str(dest), "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout) == {"cid": cid, "bytes": 11, "output": str(dest)}
    assert dest.read_bytes() == b"hello agora"
    refused = runner.invoke(app, ["storage", "get", cid, "--json"])
    assert refused.exit_code != 0 and "--output" in str(refused.exception or refused.output)
