"""``JsonRpc``: a few read-only JSON-RPC calls over plain HTTP, without web3.

A command that only reads one value (``agora token balance``) pays most of its time importing
web3 and eth-account (about a second); this client needs only the standard library, so such a
read starts in a few hundred milliseconds. Everything else goes through :class:`~agora.chain.Chain`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from agora.errors import ChainError, NodeUnreachable, WrongChain

__all__ = ["DEV_ADDRESSES", "JsonRpc", "devnet_chain_ids"]

#: The ten dev accounts of the standard mnemonic (``agora.chain.DEV_MNEMONIC``), in order:
#: their addresses only, so a read can name "dev account N" without deriving keys.
DEV_ADDRESSES = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
)

_BALANCE_OF = bytes.fromhex("70a08231")  # balanceOf(address)


def devnet_chain_ids() -> frozenset[int]:
    """The chain ids of local development chains (as :attr:`Chain.is_devnet` counts them)."""
    return frozenset({31337, 1337, 131277322940537})


class JsonRpc:
    """Read-only JSON-RPC over HTTP(S): ``request``, and the few reads a quick command needs."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"JsonRpc speaks HTTP only, not {url!r}")
        self.url, self.timeout = url, timeout
        self._ids = 0

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one HTTP request; their results in order (the first error raises)."""
        body = []
        for method, params in calls:
            self._ids += 1
            body.append({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - http(s) only
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # something answered, with an HTTP error status
            raise ChainError(f"the server at {self.url} answered, but not as an Ethereum JSON-RPC node "
                             f"(HTTP {exc.code} {exc.reason})",
                             hint="check the port and path of --chain or AGORA_CHAIN") from None
        except (urllib.error.URLError, OSError) as exc:
            why = getattr(exc, "reason", None) or exc
            raise NodeUnreachable(f"cannot reach the node at {self.url} ({why})",
                                  hint="is it running? start one with `agora devnet up` or set AGORA_CHAIN") from None
        except ValueError:
            raise ChainError(f"the server at {self.url} answered, but not as an Ethereum JSON-RPC node "
                             "(its answer is not JSON)",
                             hint="check the port and path of --chain or AGORA_CHAIN") from None
        if not isinstance(answer, list) or not all(isinstance(a, dict) for a in answer):
            raise ChainError(f"the server at {self.url} answered, but not as an Ethereum JSON-RPC node "
                             "(its answer is no JSON-RPC response)",
                             hint="check the port and path of --chain or AGORA_CHAIN")
        by_id = {a.get("id"): a for a in answer}
        results = []
        for i, (method, _) in enumerate(calls):
            a = by_id.get(self._ids - len(calls) + 1 + i, {})
            if "error" in a or "result" not in a:
                msg = (a.get("error") or {}).get("message", "no answer")
                raise ChainError(f"the node at {self.url} answered {method} with an error: {msg}")
            results.append(a["result"])
        return results

    def request(self, method: str, params: list[Any] | None = None) -> Any:
        """One call's result."""
        return self.batch([(method, params or [])])[0]

    def fetch_identity(self, expected_chain_id: int | None = None) -> tuple[int, str]:
        """The chain id and genesis block hash, in one request; :class:`WrongChain` if the chain id
        is not ``expected_chain_id`` (when given)."""
        chain_id, genesis = self.batch([("eth_chainId", []), ("eth_getBlockByNumber", ["0x0", False])])
        cid = int(chain_id, 16)
        if expected_chain_id is not None and cid != expected_chain_id:
            raise WrongChain(f"the node at {self.url} is chain {cid}, not the expected {expected_chain_id}",
                             hint="point AGORA_CHAIN at the right node or change AGORA_CHAIN_ID")
        if not isinstance(genesis, dict) or not genesis.get("hash"):
            raise ChainError(f"the node at {self.url} has no genesis block")
        return cid, str(genesis["hash"])

    def fetch_erc20_balance(self, token: str, owner: str) -> tuple[bool, int]:
        """Whether ``token`` has code, and ``owner``'s ``balanceOf`` there (one request)."""
        data = "0x" + (_BALANCE_OF + bytes(12) + bytes.fromhex(owner[2:])).hex()
        code, answer = self.batch([("eth_getCode", [token, "latest"]),
                                   ("eth_call", [{"to": token, "data": data}, "latest"])])
        has_code = code not in ("0x", "0x0", "", None)
        return has_code, int(answer, 16) if has_code and answer not in ("0x", None) else 0
