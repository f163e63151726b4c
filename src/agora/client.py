"""``Client``: the Agora SDK entry point — a chain, an account, the protocol, storage, and
one facade per layer.

    >>> from agora import Client
    >>> client = Client()                       # embedded chain, dev account
    >>> client.token.balanceOf(client.address)
    >>> client.compute.submit(...)              # the compute layer's facade
    >>> client.models.call(model_id, inputs)    # the value layer's facade

On the embedded chain the protocol is deployed fresh in this process; on any
other chain it is loaded from the address book. Each installed layer declares
its facade (:class:`agora.layers.Layer` ``facade``); the client builds it on
first use and keeps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agora.context import Context, resolve_signer
from agora.layers import load_layers, resolve

if TYPE_CHECKING:  # the facades of the layers that ship with Agora, for type checkers and editors
    from agora.compute.requester import ComputeClient
    from agora.data.client import DatasetsClient
    from agora.subnet.client import SubnetsClient
    from agora.value.client import ModelsClient
    from agora.verify.client import VerifyClient

__all__ = ["Client", "resolve_signer"]


def _facades() -> dict[str, str]:
    return {lay.facade[0]: lay.facade[1] for lay in load_layers() if lay.facade}


class Client(Context):
    """The Agora SDK entry point: a :class:`~agora.context.Context` plus each layer's facade
    (``client.compute``, ``client.models``…) as an attribute."""

    if TYPE_CHECKING:
        compute: ComputeClient
        data: DatasetsClient
        models: ModelsClient
        subnets: SubnetsClient
        verify: VerifyClient

    def __getattr__(self, name: str) -> Any:
        # only called for names the instance does not have: a layer's facade, built once
        factory = _facades().get(name)
        if factory is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        facade = resolve(factory)(self)
        setattr(self, name, facade)
        return facade

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *_facades()})
