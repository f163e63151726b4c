"""The data chapter of ``agora demo``, printed (the summary comes from ``agora.data.demo``)."""

from __future__ import annotations

from typing import Any

from agora.cli.output import kv_table, out

__all__ = ["print_demo_chapter"]


def print_demo_chapter(v: dict[str, Any], symbol: str, number: int) -> None:
    """Print the data chapter of ``agora demo`` (``agora.data.demo``'s summary) as chapter ``number``."""
    from rich.table import Table

    from agora.units import format_amount

    def amount(wei: int) -> str:
        return format_amount(wei, symbol=symbol)

    out.print(f"\n[bold]{number}. a dataset that pays everyone who made it[/bold] — dataset {v['dataset_id']} "
              f"({v['file_bytes']:,} bytes of CSV) published with a three-way split at {amount(v['price_wei'])} "
              "a datatoken")
    out.print(kv_table("", [
        ("published", f"data token, datatoken, price and split in one transaction ({v['publish_gas']:,} gas); "
                      f"content hash {v['content_hash'][:18]}…"),
        ("orders", f"consumer 1 bought ({v['buy_gas']:,} gas) then ordered ({v['order_gas']:,} gas); consumer 2 "
                   f"bought and ordered in one transaction with a permit ({v['buy_and_order_gas']:,} gas); "
                   "first calls, every fee on"),
        ("fees per order", f"provider {amount(v['provider_fee_wei'])} (the node's signed quote), market "
                           f"{amount(v['market_fee_wei'])}, protocol {v['protocol_fee_bps'] / 100:g}% of the price"),
        ("downloads", f"{v['downloads']} through the access node (encrypted at rest, signed requests), each checked "
                      f"against the content hash on chain; another consumer's order: refused ({v['refused']})"),
        ("revenue", f"{amount(v['revenue_wei'])} in the pot, split; protocol fees {amount(v['protocol_fees_wei'])}"),
    ]))
    st = Table("recipient", "share", "withdrawn (wei)", box=None, pad_edge=False)
    for r in v["split"]:
        st.add_row(r["recipient"], f"{r['bps'] / 100:.0f}%", f"{r['withdrawn_wei']:,}")
    out.print(st)
    out.print(kv_table("", [("reconciled", "what each consumer paid = split + provider, market and protocol fees, "
                                          "to the wei; the registry keeps none of it")]))
    private = v.get("private")
    if private:
        _print_private(private, amount)


def _print_private(p: dict[str, Any], amount: Any) -> None:
    """The private-compute part: federated learning across hospitals, compute-to-data refusals."""
    rows: list[tuple[str, str]] = [("hospitals", f"datasets {', '.join(map(str, p['datasets']))}: each keeps its "
                                                 "part of the digits data; none of it leaves")]
    fl = p.get("fl", {})
    if "skipped" in fl:
        rows.append(("federated", f"skipped: {fl['skipped']}"))
    elif fl:
        rows += [
            ("federated", f"{fl['rounds']} rounds with SecAgg+ (the server sees only the sum of the updates) and "
                          f"record-level differential privacy in each hospital (DP gradient descent, noise "
                          f"{fl['dp_record_noise']:g}x the clip): epsilon {fl['epsilon']:.2f} per hospital "
                          f"(delta {fl['delta']:g}), recorded on chain against each dataset's budget; held-out "
                          f"accuracy {fl['accuracy']:.3f} (floor {fl['accuracy_floor']:.2f})"),
            ("paid per round", f"each round recorded on chain ({fl['record_gas']:,} gas); each hospital paid "
                               f"{amount(fl['paid_per_hospital_wei'])}"),
            ("provenance", f"model {fl['model_id']} registered with the three datasets"),
        ]
    c2d = p.get("c2d", {})
    if "skipped" in c2d:
        rows.append(("compute-to-data", f"skipped: {c2d['skipped']}"))
    elif c2d:
        rows += [
            ("private query", f"a differentially private count ran next to hospital 1's data (OpenDP, in the "
                              f"sandbox): {c2d['dp_count']} records at epsilon {c2d['query_epsilon']:g} of a budget "
                              f"of {c2d['budget_epsilon']:g} ({c2d.get('spent_before_epsilon', 0):.2f} spent before), "
                              f"recorded on chain; a second: refused ({c2d['over_budget']})"),
            ("allow-list", f"refused before paying: {c2d['refused']}"),
            ("sandbox", f"an allowed algorithm that reaches for the network failed inside the sandbox "
                        f"({c2d['code']}); job {c2d['job_id']} declined, its escrow refunded"),
        ]
    out.print("\n[bold]   data that never leaves its holders[/bold]")
    out.print(kv_table("", rows))
