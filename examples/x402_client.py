#!/usr/bin/env python3
"""Pay an Agora model's HTTP API with x402 — a standalone client, no Agora code.

An Agora model served by ``agora model serve`` answers an unpaid ``POST /call`` with
``402 Payment Required`` and an x402 v2 ``PAYMENT-REQUIRED`` header (base64 JSON) that
offers two schemes at the same price:

``exact``
    x402's standard EVM scheme: sign an EIP-3009 ``TransferWithAuthorization`` for the
    exact price, to the offer's ``payTo`` (the model's payee). The server settles it on
    chain before it answers. One transfer per call; no transaction from the client.

``agora-channel``
    Open a payment channel once (two transactions: ``approve`` and ``open``), then pay
    each call with an EIP-712 *cheque*: a running total on the channel, signed off chain.
    No transaction per call; the server claims the cheques in batches.

Every answer carries a ``PAYMENT-RESPONSE`` header with the settlement (``exact``: the
transaction hash) and a receipt signed by the model's service key; this client checks it.

Usage::

    export PAYER_KEY=0x...   # a funded key on the model's chain
    python examples/x402_client.py http://127.0.0.1:8402/call --key-env PAYER_KEY \\
        --input digits.npy --scheme exact
    python examples/x402_client.py http://127.0.0.1:8402/call --key-env PAYER_KEY \\
        --input digits.npy --scheme agora-channel --calls 5 --rpc http://127.0.0.1:8545

It needs only ``httpx`` and ``eth-account`` (``eth_utils``, used for keccak256, is one of
eth-account's own dependencies). Exit status: 0 when every call was paid and answered, 1 with
one line on stderr (the 402's ``code``) when the server refused a payment, 2 on a usage or
network error.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

X402_VERSION = 2
PAYMENT_REQUIRED = "PAYMENT-REQUIRED"
PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE"
PAYMENT_RESPONSE = "PAYMENT-RESPONSE"

# EIP-712 types. The cheque's types come with the agora-channel offer (extra.types); the two
# below are fixed by their standards (EIP-3009) and by Agora's receipt format.
EIP712_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
TRANSFER_WITH_AUTHORIZATION = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]
RECEIPT = [  # Agora's receipt of an AI output ("Agora Receipt" version 2), kind "model-call"
    {"name": "kind", "type": "string"},
    {"name": "subject", "type": "uint256"},
    {"name": "item", "type": "uint256"},
    {"name": "weightsHash", "type": "bytes32"},
    {"name": "inputHash", "type": "bytes32"},
    {"name": "outputHash", "type": "bytes32"},
    {"name": "runner", "type": "address"},
    {"name": "payer", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "payment", "type": "uint256"},
    {"name": "time", "type": "uint64"},
]
#: How long a new channel stays open (the payer can take back the unspent rest afterwards).
CHANNEL_DURATION_S = 86_400


class Refused(Exception):
    """The server answered a payment with 402: ``code`` is its machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Failed(Exception):
    """Anything else that stops the run (bad arguments, network, a reverted transaction)."""


# -- x402 headers --------------------------------------------------------------------------------
def encode_header(obj: dict[str, Any]) -> str:
    """An x402 header value: base64 (standard alphabet) of compact JSON."""
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


def decode_header(value: str) -> dict[str, Any]:
    """The JSON object in an x402 header value."""
    obj = json.loads(base64.b64decode(value))
    if not isinstance(obj, dict):
        raise Failed("an x402 header must hold a JSON object")
    return obj


def chain_id_of(offer: dict[str, Any]) -> int:
    """The chain id of an offer's CAIP-2 network (``eip155:<chain id>``)."""
    namespace, _, reference = str(offer["network"]).partition(":")
    if namespace != "eip155" or not reference.isdigit():
        raise Failed(f"unsupported network {offer['network']!r} (this client pays on EVM chains)")
    return int(reference)


def fetch_offers(http: httpx.Client, url: str, body: bytes, scheme: str) -> tuple[dict[str, Any], int | None]:
    """POST the body unpaid; return the server's offer for ``scheme`` from its 402, and the model
    id (named by the agora-channel offer, if there is one)."""
    resp = http.post(url, content=body)
    if resp.status_code != 402 or PAYMENT_REQUIRED not in resp.headers:
        raise Failed(f"expected 402 with {PAYMENT_REQUIRED} from {url}, got HTTP {resp.status_code}: "
                     f"{resp.text[:200]}")
    accepts = decode_header(resp.headers[PAYMENT_REQUIRED]).get("accepts", [])
    model_ids = [int(o["extra"]["modelId"]) for o in accepts if o.get("scheme") == "agora-channel"]
    for offer in accepts:
        if offer.get("scheme") == scheme:
            return dict(offer), (model_ids[0] if model_ids else None)
    offered = ", ".join(o.get("scheme", "?") for o in accepts)
    raise Failed(f"the server does not offer {scheme!r} (it offers: {offered})")


def pay(http: httpx.Client, url: str, body: bytes, offer: dict[str, Any], payload: dict[str, Any]
        ) -> tuple[bytes, dict[str, Any]]:
    """Send the request with a payment for ``offer``; return the answer and its PAYMENT-RESPONSE.

    ``accepted`` is the offer exactly as the server sent it: the server accepts a payment
    only for one of its own offers, unchanged."""
    header = encode_header({"x402Version": X402_VERSION, "accepted": offer, "payload": payload})
    resp = http.post(url, content=body, headers={PAYMENT_SIGNATURE: header})
    if resp.status_code == 402:
        try:
            refusal = resp.json()
        except ValueError:
            refusal = {}
        # the refusal's code is in the JSON body and in PAYMENT-REQUIRED's "error"
        code = refusal.get("code")
        if not code and PAYMENT_REQUIRED in resp.headers:
            code = decode_header(resp.headers[PAYMENT_REQUIRED]).get("error")
        raise Refused(str(code or "payment_refused"), str(refusal.get("error", "payment refused")))
    if resp.status_code != 200:
        raise Failed(f"HTTP {resp.status_code} from {url}: {resp.text[:200]}")
    return resp.content, decode_header(resp.headers[PAYMENT_RESPONSE])


# -- receipts ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checked:
    """A receipt that checked out: what it says about the call."""

    amount: int
    channel_id: int
    nonce: int


def receipt_signer(offer: dict[str, Any], model_id: int | None, rpc: Rpc | None) -> str:
    """The key whose signature a receipt must carry: the one the offer names, checked against the
    model's service key on chain (``ModelRegistry.service_of``) when we can read the chain."""
    where = offer["extra"]["receipt"]  # {"domain": the receipts' EIP-712 domain, "signer": an address}
    named = str(where["signer"])
    if rpc is not None and model_id is not None:
        registry = where["domain"]["verifyingContract"]  # receipts are signed in the ModelRegistry's domain
        data = selector("service_of(uint256)") + word(model_id)
        on_chain = "0x" + rpc.call("eth_call", {"to": registry, "data": "0x" + data.hex()}, "latest")[-40:]
        if on_chain.lower() != named.lower():
            raise Failed(f"the offer names {named} as the receipts' signer, the chain says model {model_id}'s "
                         f"service key is {on_chain}")
    return named


def check_receipt(offer: dict[str, Any], settled: dict[str, Any], service: str, payer: str, body: bytes,
                  output: bytes) -> Checked:
    """Check the service's signed receipt in ``settled.extra.receipt``: signed by ``service``, in
    the domain the offer names, for this input and output, this price and this payer."""
    receipt = settled.get("extra", {}).get("receipt")
    if not isinstance(receipt, dict):
        raise Failed("the answer carries no receipt")
    message = {
        "kind": receipt["kind"], "subject": int(receipt["subject"]), "item": int(receipt["item"]),
        "weightsHash": receipt["weightsHash"], "inputHash": receipt["inputHash"], "outputHash": receipt["outputHash"],
        "runner": receipt["runner"], "payer": receipt["payer"], "amount": int(receipt["amount"]),
        "payment": int(receipt["payment"]), "time": int(receipt["time"]),
    }
    typed = {"types": {"EIP712Domain": EIP712_DOMAIN, "Receipt": RECEIPT}, "primaryType": "Receipt",
             "domain": offer["extra"]["receipt"]["domain"], "message": message}
    try:
        signer = Account.recover_message(encode_typed_data(full_message=typed), signature=receipt["signature"])
    except Exception as exc:  # eth-account raises several kinds for a bad signature
        raise Failed(f"bad receipt: its signature does not recover ({exc})") from None
    problems = []
    if signer.lower() != service.lower() or str(message["runner"]).lower() != service.lower():
        problems.append(f"signed by {signer} for {message['runner']}, not by the service {service}")
    if message["kind"] != "model-call":
        problems.append(f"it is a {message['kind']!r} receipt, not a paid call's")
    if message["inputHash"].lower() != "0x" + keccak(body).hex():
        problems.append("it is for another input")
    if message["outputHash"].lower() != "0x" + keccak(output).hex():
        problems.append("it is for another output")
    if message["amount"] != int(offer["amount"]):
        problems.append(f"it charges {message['amount']}, the offer said {offer['amount']}")
    if str(message["payer"]).lower() != payer.lower():
        problems.append(f"it names another payer ({message['payer']})")
    if problems:
        raise Failed("bad receipt: " + "; ".join(problems))
    return Checked(message["amount"], message["payment"], message["item"])


# -- exact (EIP-3009) ----------------------------------------------------------------------------
def exact_payload(account: LocalAccount, offer: dict[str, Any], now: int) -> dict[str, Any]:
    """Sign a TransferWithAuthorization for the offer: its exact amount, to its payTo, valid from
    10 minutes ago (clock skew) until the offer's timeout from now, with a fresh random nonce
    (EIP-3009 nonces are never reused; the token marks each one used)."""
    authorization = {
        "from": account.address,
        "to": offer["payTo"],
        "value": str(offer["amount"]),
        "validAfter": str(max(0, now - 600)),
        "validBefore": str(now + int(offer["maxTimeoutSeconds"])),
        "nonce": "0x" + secrets.token_bytes(32).hex(),
    }
    typed = {
        "types": {"EIP712Domain": EIP712_DOMAIN, "TransferWithAuthorization": TRANSFER_WITH_AUTHORIZATION},
        "primaryType": "TransferWithAuthorization",
        # the token's EIP-712 domain: name and version from the offer, the chain from its network
        "domain": {"name": offer["extra"]["name"], "version": offer["extra"]["version"],
                   "chainId": chain_id_of(offer), "verifyingContract": offer["asset"]},
        "message": {**authorization, "value": int(authorization["value"]),
                    "validAfter": int(authorization["validAfter"]),
                    "validBefore": int(authorization["validBefore"]),
                    "nonce": bytes.fromhex(authorization["nonce"][2:])},
    }
    signed = account.sign_message(encode_typed_data(full_message=typed))
    return {"authorization": authorization, "signature": "0x" + bytes(signed.signature).hex()}


def run_exact(http: httpx.Client, url: str, body: bytes, account: LocalAccount, calls: int,
              rpc: Rpc | None) -> int:
    """Pay ``calls`` calls with one EIP-3009 authorization each; return the total paid."""
    offer, model_id = fetch_offers(http, url, body, "exact")
    service = receipt_signer(offer, model_id, rpc)
    total = 0
    for i in range(1, calls + 1):
        # the chain's clock when we can read it (a devnet may run ahead of the wall clock)
        now = max(int(time.time()), rpc.timestamp() if rpc else 0)
        payload = exact_payload(account, offer, now)
        output, settled = pay(http, url, body, offer, payload)
        checked = check_receipt(offer, settled, service, account.address, body, output)
        # an exact payment's receipt names channel 0 and the authorization's nonce
        if (checked.channel_id, checked.nonce) != (0, int(payload["authorization"]["nonce"], 16)):
            raise Failed(f"the receipt is for channel {checked.channel_id} nonce {checked.nonce}")
        tx = str(settled["transaction"])
        if rpc is not None:  # see the transfer on chain for ourselves
            rpc.confirm_transfer(tx, offer["asset"], account.address, offer["payTo"], checked.amount)
        total += checked.amount
        print(f"call {i}: exact, paid {checked.amount} wei to {offer['payTo']}, tx {tx}"
              f"{' (confirmed on chain)' if rpc else ''}, output {len(output)} bytes, "
              f"receipt signed by {service} checked")
    print(f"done: {calls} call(s) paid with exact, {total} wei in {calls} transfer(s) settled by the server")
    return total


# -- agora-channel -------------------------------------------------------------------------------
class Rpc:
    """The few JSON-RPC calls this client makes (open a channel, read the service key, confirm a
    settlement), with transactions signed locally: no node-side accounts."""

    def __init__(self, http: httpx.Client, url: str, account: LocalAccount) -> None:
        self.http, self.url, self.account = http, url, account
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC request; its ``result``."""
        self._id += 1
        try:
            resp = self.http.post(self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method,
                                                  "params": list(params)})
            answer = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Failed(f"the node at {self.url} did not answer {method}: {exc}") from None
        if "error" in answer:
            raise Failed(f"{method} failed: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    def chain_id(self) -> int:
        """The node's chain id."""
        return int(self.call("eth_chainId"), 16)

    def timestamp(self) -> int:
        """The latest block's time."""
        return int(self.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    def transact(self, to: str, data: bytes, what: str) -> dict[str, Any]:
        """Sign and send a transaction calling ``to``, wait for it to be mined; its receipt."""
        tx = {"from": self.account.address, "to": to, "data": "0x" + data.hex(), "value": "0x0"}
        gas = int(self.call("eth_estimateGas", tx), 16)
        unsigned: dict[str, Any] = {  # a legacy (EIP-155) transaction: every EVM node takes it
            "chainId": self.chain_id(), "to": to, "data": data, "value": 0, "gas": gas * 5 // 4,
            "gasPrice": int(self.call("eth_gasPrice"), 16),
            "nonce": int(self.call("eth_getTransactionCount", self.account.address, "pending"), 16),
        }
        signed = self.account.sign_transaction(unsigned)
        tx_hash = self.call("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
        deadline = time.monotonic() + 120
        while (receipt := self.call("eth_getTransactionReceipt", tx_hash)) is None:
            if time.monotonic() > deadline:
                raise Failed(f"{what} ({tx_hash}) was not mined within 120 s")
            time.sleep(0.2)
        if int(receipt["status"], 16) != 1:
            raise Failed(f"{what} ({tx_hash}) reverted")
        return dict(receipt)


    def confirm_transfer(self, tx_hash: str, token: str, sender: str, recipient: str, value: int) -> None:
        """Check that transaction ``tx_hash`` succeeded and moved ``value`` of ``token`` from
        ``sender`` to ``recipient`` (an ERC-20 ``Transfer`` event)."""
        receipt = self.call("eth_getTransactionReceipt", tx_hash)
        if receipt is None or int(receipt["status"], 16) != 1:
            raise Failed(f"the settlement {tx_hash} is not a successful transaction on chain")
        wanted = ["0x" + keccak(text="Transfer(address,address,uint256)").hex(),
                  "0x" + word(sender).hex(), "0x" + word(recipient).hex()]
        for log in receipt["logs"]:
            if (log["address"].lower() == token.lower() and [t.lower() for t in log["topics"]] == wanted
                    and int(log["data"], 16) == value):
                return
        raise Failed(f"the settlement {tx_hash} did not transfer {value} to {recipient}")


def selector(signature: str) -> bytes:
    """A function's 4-byte ABI selector."""
    return keccak(text=signature)[:4]


def word(value: int | str) -> bytes:
    """One 32-byte ABI word: an unsigned integer, or an address (``0x`` + 40 hex digits)."""
    if isinstance(value, str):
        return bytes.fromhex(value[2:]).rjust(32, b"\0")
    return value.to_bytes(32, "big")


def open_channel(rpc: Rpc, offer: dict[str, Any], deposit: int) -> int:
    """Approve the token and open a channel to the offer's model with ``deposit``; its id.

    ``PaymentChannels.open(model_id, amount, expiry, signer)`` (signer zero: the caller signs the
    cheques) escrows the deposit; the id comes from the ``ChannelOpened`` event in the receipt."""
    channels, token, model_id = offer["extra"]["channels"], offer["asset"], int(offer["extra"]["modelId"])
    rpc.transact(token, selector("approve(address,uint256)") + word(channels) + word(deposit), "approve")
    expiry = rpc.timestamp() + CHANNEL_DURATION_S
    receipt = rpc.transact(
        channels, selector("open(uint256,uint256,uint256,address)") + word(model_id) + word(deposit)
        + word(expiry) + word(0), "open",
    )
    opened = "0x" + keccak(text="ChannelOpened(uint256,address,uint256,address,uint256,uint256)").hex()
    for log in receipt["logs"]:
        if log["address"].lower() == channels.lower() and log["topics"][0] == opened:
            return int(log["topics"][1], 16)  # channel_id is the event's first indexed field
    raise Failed("the open transaction logged no ChannelOpened event")


def cheque_payload(account: LocalAccount, offer: dict[str, Any], channel_id: int, nonce: int, amount: int
                   ) -> dict[str, Any]:
    """Sign a cheque: "on this channel I owe ``amount`` in total" (a running total), with a nonce
    that rises with every cheque, in the channel contract's EIP-712 domain (from the offer)."""
    extra = offer["extra"]
    typed = {"types": extra["types"], "primaryType": extra["primaryType"], "domain": extra["domain"],
             "message": {"channelId": channel_id, "nonce": nonce, "amount": amount}}
    signed = account.sign_message(encode_typed_data(full_message=typed))
    return {"channelId": str(channel_id), "nonce": str(nonce), "amount": str(amount),
            "signature": "0x" + bytes(signed.signature).hex()}


def run_channel(http: httpx.Client, url: str, body: bytes, account: LocalAccount, calls: int, rpc: Rpc) -> int:
    """Open a channel for exactly ``calls`` calls and pay each with a cheque; return the total."""
    offer, model_id = fetch_offers(http, url, body, "agora-channel")
    service = receipt_signer(offer, model_id, rpc)
    if rpc.chain_id() != chain_id_of(offer):
        raise Failed(f"--rpc is on chain {rpc.chain_id()}, the offer is for {offer['network']}")
    price = int(offer["amount"])
    channel_id = open_channel(rpc, offer, deposit=price * calls)
    print(f"opened channel {hex(channel_id)} with {price * calls} wei for {calls} call(s)")
    total = 0
    for nonce in range(1, calls + 1):
        total += price
        output, settled = pay(http, url, body, offer, cheque_payload(account, offer, channel_id, nonce, total))
        checked = check_receipt(offer, settled, service, account.address, body, output)
        if (checked.channel_id, checked.nonce) != (channel_id, nonce):
            raise Failed(f"the receipt is for channel {checked.channel_id} nonce {checked.nonce}")
        print(f"call {nonce}: agora-channel, paid {checked.amount} wei (cheque nonce {nonce}, total {total}), "
              f"output {len(output)} bytes, receipt signed by {service} checked")
    print(f"done: {calls} call(s) paid with agora-channel, {total} wei on channel {hex(channel_id)}, "
          "no transaction per call")
    return total


# -- the command line ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, pay the calls; the exit status."""
    parser = argparse.ArgumentParser(description="Pay an Agora model's x402 API (exact or agora-channel).")
    parser.add_argument("url", help="the model's paid endpoint, e.g. http://127.0.0.1:8402/call")
    parser.add_argument("--key-env", required=True, metavar="VAR",
                        help="environment variable holding the payer's private key (hex)")
    parser.add_argument("--input", required=True, type=Path, metavar="FILE",
                        help="the request body (.npy for onnx-classify, a JSON list of texts for embed-minilm)")
    parser.add_argument("--scheme", choices=("exact", "agora-channel"), default="exact")
    parser.add_argument("--calls", type=int, default=1, help="how many paid calls to make (default 1)")
    parser.add_argument("--rpc", metavar="URL", help="the chain's JSON-RPC URL (needed for agora-channel)")
    args = parser.parse_args(argv)
    try:
        if args.calls < 1:
            raise Failed("--calls must be at least 1")
        key = os.environ.get(args.key_env)
        if not key:
            raise Failed(f"the environment variable {args.key_env} holds no private key")
        try:
            account: LocalAccount = Account.from_key(key)
        except ValueError:
            raise Failed(f"{args.key_env} does not hold a valid private key") from None
        try:
            body = args.input.read_bytes()
        except OSError as exc:
            raise Failed(f"cannot read {args.input}: {exc.strerror}") from None
        with httpx.Client(timeout=60, trust_env=False) as http:  # no proxy settings from the environment
            rpc = Rpc(http, args.rpc, account) if args.rpc else None
            if args.scheme == "exact":
                run_exact(http, args.url, body, account, args.calls, rpc)
            else:
                if rpc is None:
                    raise Failed("agora-channel opens a channel on chain: give --rpc URL")
                run_channel(http, args.url, body, account, args.calls, rpc)
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except Failed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: {args.url}: {exc}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError) as exc:  # an answer without a field x402 requires
        print(f"error: unexpected answer from the server or the node: {exc!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
