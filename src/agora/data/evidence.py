"""Who may sign the data layer's receipts: a federated round's (kind ``fl-round``).

A round's receipt is signed by the run's consumer, who aggregates it, in the
``DataServices`` receipt domain; it is entitled when the chain recorded that round of
that run with the same aggregate, participants and pay (``RoundRecorded``). (A
compute-to-data result is a market job: its receipts are the compute layer's kind.)
"""

from __future__ import annotations

from agora.chain.eip712 import Domain, keccak256
from agora.chain.evidence import Receipt, ReceiptError
from agora.protocol import Deployment

__all__ = ["entitled"]


def entitled(dep: Deployment, receipt: Receipt, domain: Domain, until: int) -> str:
    """The ``receipts`` hook of kind ``fl-round``: in the services' domain, signed by the run's
    consumer, for a round the chain recorded with this aggregate, these participants and this pay."""
    services = dep.contract("data_services")
    if domain.contract.lower() != services.address.lower():
        raise ReceiptError(f"a federated round's receipt is signed in the data services' domain ({services.address}), "
                           f"not {domain.contract}")
    run_id, round_ = receipt.subject, receipt.item
    events = services.get_events("RoundRecorded", dep.block,
                                 where=[run_id.to_bytes(32, "big"), round_.to_bytes(32, "big")])
    if not events:
        raise ReceiptError(f"round {round_} of federated run {run_id} was never recorded on chain")
    ev = events[0]
    try:
        consumer, _token, pay, *_rest, datasets, _nodes = services.run(run_id)
    except Exception:
        raise ReceiptError(f"there is no federated run {run_id}") from None
    if receipt.runner.lower() != str(consumer).lower():
        raise ReceiptError(f"{receipt.runner} is not the consumer of federated run {run_id} ({consumer})")
    if bytes(ev.args["aggregate"]) != receipt.output_hash:
        raise ReceiptError(f"round {round_} of run {run_id} was recorded with another aggregate")
    bits = int(ev.args["participants"])
    paid = [int(datasets[i]) for i in range(bits.bit_length()) if bits >> i & 1]
    if keccak256(b"".join(d.to_bytes(32, "big") for d in paid)) != receipt.input_hash:
        raise ReceiptError(f"round {round_} of run {run_id} was recorded with other participants")
    if int(ev.args["paid"]) != receipt.amount:
        raise ReceiptError(f"round {round_} of run {run_id} paid {ev.args['paid']}, not {receipt.amount}")
    return f"the consumer of federated run {run_id}, who recorded round {round_} with this aggregate"
