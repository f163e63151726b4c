"""Chain seam throughput and gas: token transfers on the embedded chain and on anvil.

Compared in the same run with the baseline most web3.py code uses: the node
signs (``transact``), estimates gas and fees per transaction, then waits.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eth_account import Account  # noqa: E402

from _common import rate, write  # noqa: E402
from agora.chain import connect, deploy  # noqa: E402
from agora.devnet.anvil import start_anvil  # noqa: E402

N_SEQ = 300
N_BURST = 2000


def measure(uri: str) -> dict[str, float]:
    chain = connect(uri)
    token = deploy(chain, "AgoraToken", 10**27)
    a, b = chain.dev_signers[0], chain.dev_signers[1]
    first = token.transfer(Account.create().address, 1)  # to a new holder
    token.transfer(b.address, 1)
    existing = token.transfer(b.address, 1)  # to an existing holder
    sender = chain.sender(a)

    def sequential() -> None:
        for _ in range(N_SEQ):
            token.transfer(b.address, 1, sender=a)

    def pipelined() -> None:
        txs = [token.transfer.build(b.address, 1) for _ in range(N_BURST)]
        for tx in txs:
            tx["gas"] = 60_000
        sender.send_many(txs)

    seq = rate(N_SEQ, sequential)
    burst = rate(N_BURST, pipelined)
    return {"seq": seq, "burst": burst, "gas_new": first.gas_used, "gas_existing": existing.gas_used}


def naive_web3(uri: str) -> float:
    """web3.py's everyday path: node-signed transact() with estimates, then wait for the receipt."""
    chain = connect(uri)
    token = deploy(chain, "AgoraToken", 10**27)
    w3 = chain.w3
    c = w3.eth.contract(address=token.address, abi=token.abi)
    a, b = chain.dev_signers[0].address, chain.dev_signers[1].address

    def run() -> None:
        for _ in range(N_SEQ):
            h = c.functions.transfer(b, 1).transact({"from": a})
            w3.eth.wait_for_transaction_receipt(h)

    return rate(N_SEQ, run)


def main() -> None:
    emb = measure("embedded://")
    node = start_anvil()
    try:
        anv = measure(node.url)
    finally:
        node.stop()
    node = start_anvil()
    try:
        naive = naive_web3(node.url)
    finally:
        node.stop()
    write("chain", {
        "transfers_per_s_embedded": emb["seq"],
        "transfers_per_s_embedded_batch": emb["burst"],
        "transfers_per_s_anvil": anv["seq"],
        "transfers_per_s_anvil_pipelined": anv["burst"],
        "transfers_per_s_anvil_naive_web3": naive,
        "anvil_pipelined_vs_naive_ratio": anv["burst"] / naive,
        "anvil_sequential_vs_naive_ratio": anv["seq"] / naive,
        "gas_per_transfer_embedded": emb["gas_existing"],
        "gas_per_transfer_anvil": anv["gas_existing"],
        "gas_per_transfer_new_holder_embedded": emb["gas_new"],
        "gas_per_transfer_new_holder_anvil": anv["gas_new"],
    })


if __name__ == "__main__":
    main()
