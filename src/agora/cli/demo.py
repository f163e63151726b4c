"""``agora demo``: the protocol's story on the embedded chain, and the printer of that story.

The core tells chapters 1-3 (protocol deployed, tokens moved, blob stored); each installed
layer then prints its own chapter (its ``Layer.demo_view``), numbered 4, 5… in the layers' order.
"""

from __future__ import annotations

from typing import Any

import typer

from agora.cli.options import JsonOpt
from agora.cli.output import emit_json, kv_table, out, progress

__all__ = ["app", "demo", "print_demo"]

#: Commands of ``agora`` itself (mounted without a group name).
app = typer.Typer()


@app.command("demo")
def demo(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Run the protocol's story on the embedded chain and print a summary."""
    from agora.demo import run_demo

    if json_:
        emit_json(run_demo())
        return
    with progress("starting") as step:
        summary = run_demo(step=step)
    print_demo(summary)


def print_demo(summary: dict[str, Any]) -> None:
    """Print :func:`agora.demo.run_demo`'s summary as the story: the core's chapters, then each layer's."""
    from agora.layers import load_layers, resolve
    from agora.units import format_amount

    s, t = summary, summary["token"]
    out.print("[bold]Agora demo[/bold] — on the embedded chain "
              f"(chain id {s['chain']['chain_id']}, {s['chain']['blocks']} blocks)\n")
    out.print(kv_table("1. protocol deployed", list(s["contracts"].items())))
    out.print(kv_table("\n2. tokens moved", [
        ("faucet → alice", format_amount(t["minted_by_faucet_wei"], symbol=t["symbol"])),
        ("alice → bob", f"{format_amount(t['transfer_wei'], symbol=t['symbol'])} "
                        f"({t['transfer_gas']:,} gas)"),
        ("bob overspends", f"refused: {t['overspend_refused_with']}"),
        *[(f"balance {who}", format_amount(v, symbol=t["symbol"]))
          for who, v in t["balances_wei"].items()],
        ("reconciled", "balances add up to the supply, to the wei"),
    ]))
    st = s["storage"]
    out.print(kv_table("\n3. blob stored and fetched", [
        ("cid", st["cid"]), ("bytes", st["bytes"]), ("verified", "hash matches the CID")]))
    number = 4
    for layer in load_layers():
        if layer.demo_view and layer.name in s:
            resolve(layer.demo_view)(s[layer.name], t["symbol"], number)
            number += 1
    out.print(f"\n[green]done in {s['seconds']} s[/green] — every step above was checked.")
