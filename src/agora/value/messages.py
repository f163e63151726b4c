"""The one shape of the value layer's EIP-712 messages (the payer's cheque, the service's receipt).

Each is a struct of atomic fields signed in the domain of one of the layer's contracts
(name ``"Agora …"``, version ``"1"``, the chain's id, the contract's address). A
:class:`MessageType` holds a struct's fields once and derives from them what wallets need
(the ``types`` object, :meth:`MessageType.typed_data`) and what the fast path needs (the
type hash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agora.chain.eip712 import DOMAIN_FIELDS, Domain, type_hash

__all__ = ["DOMAIN_VERSION", "MessageType", "build_domain"]

#: The EIP-712 domain version of every value-layer contract.
DOMAIN_VERSION = "1"


def build_domain(name: str, chain_id: int, contract: str) -> Domain:
    """The EIP-712 domain of the value-layer contract ``name`` at ``contract`` on ``chain_id``."""
    return Domain(name, DOMAIN_VERSION, chain_id, contract)


@dataclass(frozen=True)
class MessageType:
    """An EIP-712 struct of atomic fields: its name and fields, in signing order."""

    primary: str
    fields: list[dict[str, str]]
    types: dict[str, list[dict[str, str]]] = field(init=False, repr=False, compare=False)
    type_hash: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", {"EIP712Domain": DOMAIN_FIELDS, self.primary: self.fields})
        object.__setattr__(self, "type_hash", type_hash(self.fields, self.primary))

    def typed_data(self, domain: Domain, message: dict[str, Any]) -> dict[str, Any]:
        """The message as EIP-712 JSON ``{types, primaryType, domain, message}``: what a wallet signs."""
        return {"types": self.types, "primaryType": self.primary, "domain": domain.to_json(), "message": message}
