"""How ``agora`` is put together: the core's groups and every installed layer's, mounted by
main.py without naming a layer; the demo's chapters printed through the layers' demo_view."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.main import get_command

from agora.cli import main as cli_main
from agora.cli.demo import print_demo
from agora.errors import ConfigError
from agora.layers import Layer, load_layers

printed: list[tuple[str, Any, str, int]] = []


def record_first(summary: Any, symbol: str, number: int) -> None:
    printed.append(("first", summary, symbol, number))


def record_second(summary: Any, symbol: str, number: int) -> None:
    printed.append(("second", summary, symbol, number))


def _commands(app: typer.Typer) -> list[str]:
    return list(get_command(app).commands)  # type: ignore[attr-defined]


def test_the_core_and_every_layer_have_their_groups_in_order() -> None:
    names = _commands(cli_main.app)
    core = ["demo", "samples", "deploy", "faucet", "devnet", "chain", "account", "token", "storage", "contracts",
            "config", "receipt", "trace"]
    layers = [name for layer in load_layers() for name in layer.cli]
    assert names == core + layers
    assert {"job", "provider", "model", "channel"} <= set(layers)


def test_two_groups_of_one_name_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    rogue = Layer(name="rogue", summary="claims a core group's name", cli={"chain": "agora.cli.job:app"})
    monkeypatch.setattr(cli_main, "load_layers", lambda: (*load_layers(), rogue))
    with pytest.raises(ConfigError, match="more than one command group is named chain"):
        cli_main._mount_groups(typer.Typer())


def _summary(**chapters: Any) -> dict[str, Any]:
    return {
        "chain": {"chain_id": 1, "blocks": 2},
        "contracts": {"token": "0x" + "11" * 20},
        "token": {"symbol": "AGR", "minted_by_faucet_wei": 10**20, "transfer_wei": 10**18, "transfer_gas": 51_000,
                  "overspend_refused_with": "erc20: transfer amount exceeds balance", "balances_wei": {"alice": 1}},
        "storage": {"cid": "bafkreiexample", "bytes": 3},
        "seconds": 1.5,
        **chapters,
    }


def test_the_layers_chapters_follow_the_cores_three(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    here = __name__
    layers = (
        Layer(name="a", summary="", demo_view=f"{here}:record_first"),
        Layer(name="b", summary=""),  # no chapter to print
        Layer(name="c", summary="", demo_view=f"{here}:record_second"),
        Layer(name="d", summary="", demo_view=f"{here}:record_first"),  # ran no chapter
    )
    monkeypatch.setattr("agora.layers.load_layers", lambda: layers)
    printed.clear()
    print_demo(_summary(a={"x": 1}, b={"y": 2}, c={"z": 3}))
    assert printed == [("first", {"x": 1}, "AGR", 4), ("second", {"z": 3}, "AGR", 5)]
    out = capsys.readouterr().out
    assert out.index("1. protocol deployed") < out.index("2. tokens moved") < out.index("3. blob stored")
    assert "done in 1.5 s" in out
