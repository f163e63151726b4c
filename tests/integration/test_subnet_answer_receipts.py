"""A subnet miner's answers carry receipts (kind ``subnet-answer``), signed by its hotkey and anchored
by it: checked final while its hotkey holds a UID of the subnet; a key that holds none is refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from agora.chain import connect
from agora.chain.evidence import Bundle, ReceiptError, receipt_domain, sign_receipt
from agora.protocol import deploy_devnet
from agora.subnet.client import SubnetsClient
from agora.verification import verify_bundle
from agora.workloads import digits_samples


def test_a_miners_answers_carry_anchored_receipts(tmp_path: Path) -> None:
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    owner, miner_key = chain.dev_signers[4], chain.dev_signers[5]
    netuid = SubnetsClient(dep, owner, tmp_path / "owner").create(tempo=10)
    miners = SubnetsClient(dep, miner_key, tmp_path / "miner")
    uid = miners.register(netuid)
    server = miners.start_miner(netuid)
    x = digits_samples(2, seed=1)[0]
    try:
        body = json.dumps({"inputs": x.tolist()}).encode()
        answer = httpx.post(f"{server.url}/infer", content=body, timeout=30).json()
    finally:
        server.stop()  # anchors what waits
    assert len(answer["labels"]) == 2
    book = server.miner.book
    assert book is not None and book.pending() == 0
    domain = receipt_domain(chain.chain_id, dep.addresses["subnet_registry"])
    receipt = Bundle.from_json({"receipt": answer["receipt"], "domain": domain.to_json()}).receipt
    assert receipt.kind == "subnet-answer" and receipt.runner == miner_key.address and receipt.subject == netuid
    from agora.chain.eip712 import keccak256

    assert receipt.input_hash == keccak256(body)
    assert receipt.output_hash == keccak256(json.dumps(answer["labels"], separators=(",", ":")).encode())
    verdict = verify_bundle(dep, book.bundle(receipt.digest(domain)))
    assert verdict.final and verdict.entitled_as.startswith(f"UID {uid} of subnet {netuid}")
    # a key that holds no UID of the subnet: refused
    stranger = chain.dev_signers[6]
    forged = sign_receipt(stranger, domain, replace(receipt, runner=stranger.address))
    with pytest.raises(ReceiptError, match="did not hold a UID of subnet"):
        verify_bundle(dep, Bundle(forged, domain))
