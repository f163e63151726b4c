"""Contract-test plumbing shared by every module here."""

from __future__ import annotations

from typing import Any

from boa.contracts.vyper import vyper_contract

_get = vyper_contract.StorageVar.get


def _safe_get(self: Any, truncate_limit: Any = None) -> Any:
    # titanoboa 0.2.8 renders a contract's storage in the text of a contract's repr (used when
    # it builds a revert's stack trace). It decodes hashmap keys by walking every keccak
    # preimage seen in the process, and when some other hash happens to look like a nested
    # key it fails with AttributeError ('AddressT' object has no attribute 'key_type'), or,
    # for an address with an alias, with TypeError ('str' object does not support item
    # assignment), turning an expected revert into an error. That text is debug output
    # only: keep it best-effort.
    try:
        return _get(self, truncate_limit)
    except (AttributeError, TypeError):
        return "<undecodable>"


vyper_contract.StorageVar.get = _safe_get  # type: ignore[method-assign]
