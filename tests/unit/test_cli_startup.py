"""`agora --help` stays quick: loading the CLI and every layer's declaration imports no web3,
no eth-account and no model runtime (those load inside the commands that need them)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("web3", "eth_account", "onnxruntime", "torch", "sklearn", "vyper")


def test_loading_the_cli_and_the_layers_imports_nothing_heavy() -> None:
    probe = (
        "import json, sys\n"
        "import agora.cli.main\n"
        "from agora.layers import load_layers\n"
        "layers = load_layers()\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps({'layers': [x.name for x in layers], 'heavy': heavy}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    found = json.loads(done.stdout)
    assert {"compute", "value"} <= set(found["layers"])
    assert found["heavy"] == []


def test_a_layer_package_still_exports_its_names_on_first_use() -> None:
    import agora.compute
    import agora.value
    from agora.compute.market import Market
    from agora.value.models import ModelRegistry

    assert agora.compute.Market is Market and agora.value.ModelRegistry is ModelRegistry
    assert "Market" in dir(agora.compute)
    try:
        agora.compute.NoSuchName  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchName" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("an unknown name must raise AttributeError")
