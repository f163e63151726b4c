"""``agora samples`` (the tour's files, the same bytes every time) and ``agora account new | list``
(keystores under <home>/keys, listed with the devnet's dev accounts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agora.chain import dev_signers, load_keystore
from agora.cli.account import resolve_keystore_path
from agora.storage import cid_for
from agora.workloads import build_digits_model
from tests.integration.cli_helpers import agora, one_line_error

NAMES = ["digits.onnx", "batch.npy", "digit.npy", "texts.json", "count.py", "targets.npy", "good.npy", "noise.npy"]


def test_samples_are_the_same_bytes_every_time(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = agora(capsys, "samples", str(tmp_path / "a"), "--json")
    assert code == 0
    rows = json.loads(out)
    assert [Path(r["path"]).name for r in rows] == NAMES
    first = {name: (tmp_path / "a" / name).read_bytes() for name in NAMES}
    assert [r["cid"] for r in rows] == [cid_for(first[n]) for n in NAMES]
    assert first["digits.onnx"] == build_digits_model()  # what --digits-demo-model registers
    batch, digit = np.load(tmp_path / "a" / "batch.npy"), np.load(tmp_path / "a" / "digit.npy")
    assert batch.shape == (8, 64) and digit.shape == (1, 64) and batch.dtype == digit.dtype == np.float32
    assert len(rows[1]["labels"]) == 8 and len(json.loads(first["texts.json"])) == 3
    # a tournament round's targets and two models' predictions: the good one correlates, the noise hardly
    targets, good, noise = (np.load(tmp_path / "a" / n) for n in ("targets.npy", "good.npy", "noise.npy"))
    assert targets.shape == good.shape == noise.shape == (2_000,)
    signal, noise_corr = np.corrcoef(good, targets)[0, 1], np.corrcoef(noise, targets)[0, 1]
    assert signal > 0.05 and signal > noise_corr
    code, out, _ = agora(capsys, "samples", str(tmp_path / "b"))
    assert code == 0 and "wrote" in out and "digit.npy" in out
    assert {name: (tmp_path / "b" / name).read_bytes() for name in NAMES} == first
    code, _, _ = agora(capsys, "samples", str(tmp_path / "a"))  # the same files again: fine
    assert code == 0


def test_samples_never_overwrite_other_files_without_force(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    (tmp_path / "batch.npy").write_bytes(b"mine")
    code, _, err = agora(capsys, "samples", str(tmp_path))
    assert code == 1 and "batch.npy exists with other contents" in one_line_error(err)
    assert (tmp_path / "batch.npy").read_bytes() == b"mine" and not (tmp_path / "digits.onnx").exists()
    code, _, _ = agora(capsys, "samples", str(tmp_path), "--force")
    assert code == 0 and (tmp_path / "batch.npy").read_bytes() != b"mine"


def test_keystore_paths_a_name_goes_under_home_keys_a_path_stays(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert resolve_keystore_path(home, "me", "0xA") == home / "keys" / "me.json"
    assert resolve_keystore_path(home, "me.json", "0xA") == home / "keys" / "me.json"
    assert resolve_keystore_path(home, None, "0xA") == home / "keys" / "0xA.json"
    assert resolve_keystore_path(home, "./me.json", "0xA") == Path("./me.json")
    assert resolve_keystore_path(home, "/k/me.json", "0xA") == Path("/k/me.json")
    assert resolve_keystore_path(home, "~/me.json", "0xA") == Path.home() / "me.json"


def test_account_new_writes_under_the_home_and_list_shows_it(
    capsys: pytest.CaptureFixture[str], agora_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = agora(capsys, "account", "new", "me")
    assert code == 1 and "AGORA_PASSWORD" in one_line_error(err)  # no terminal to prompt on
    monkeypatch.setenv("AGORA_PASSWORD", "pw")
    code, out, _ = agora(capsys, "account", "new", "me", "--json")
    made = json.loads(out)
    assert code == 0 and made["keystore"] == str(agora_home / "keys" / "me.json")
    assert load_keystore(agora_home / "keys" / "me.json", "pw").address == made["address"]
    code, out, _ = agora(capsys, "account", "new", "--json")
    second = json.loads(out)
    assert code == 0 and second["keystore"] == str(agora_home / "keys" / f"{second['address']}.json")
    code, _, err = agora(capsys, "account", "new", "me")
    assert code == 1 and "me.json already exists" in one_line_error(err)

    code, out, _ = agora(capsys, "account", "list", "--json")  # the embedded chain is a devnet
    rows = json.loads(out)
    assert code == 0
    assert {(r["account"], r["address"]) for r in rows[:2]} == {("me", made["address"]),
                                                                 (second["address"], second["address"])}
    assert [(r["account"], r["address"]) for r in rows[2:]] == [
        (f"--account {i}", s.address) for i, s in enumerate(dev_signers(10))]
    code, out, _ = agora(capsys, "account", "list")
    assert code == 0 and "me" in out and dev_signers(10)[9].address in out
