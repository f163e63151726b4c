# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora payment and stake token
@custom:contract-name AgoraToken
@license AGPL-3.0-only
@notice An ERC-20 with EIP-2612 `permit` and EIP-3009 transfers with
        authorization, built on snekmate's audited `erc20` module.
        Agora uses it for payment and stake on devnets; on a real
        network the protocol takes any ERC-20 address instead (a
        stablecoin, say), so nothing in the protocol depends on this
        contract beyond the ERC-20 interface.
@dev The deployer is the owner and the first minter. The devnet faucet
     mints through `mint`, which only minters may call; `set_minter`
     (owner only) adds or removes minters. Transfers, approvals, permit,
     burning and ownership come unchanged from snekmate.

     EIP-3009 (`transferWithAuthorization`, `receiveWithAuthorization`,
     `cancelAuthorization`, `authorizationState`) follows the EIP and
     USDC's FiatTokenV2 exactly: the same type hashes, signed under the
     token's own EIP-712 domain ("Agora Token", "1"), random 32-byte
     nonces that each authorise once, and a validity window open at both
     ends (`validAfter < block.timestamp < validBefore`). It is what the
     x402 `exact` scheme on EVM pays with: the payer signs, the server
     (or its facilitator) submits.
@custom:security An authorization's nonce is the only replay protection:
                 once used or canceled, it is refused forever. Anyone
                 who sees a signed `transferWithAuthorization` may submit
                 it first (the transfer is the same whoever sends it); a
                 contract that acts on the payment should take it with
                 `receiveWithAuthorization`, which only the payee may
                 submit.
"""


# @dev `erc20` uses `ownable` for its owner-only functions
# (`set_minter`, `transfer_ownership`), so we initialise it first.
from snekmate.auth import ownable
initializes: ownable


# @dev The token logic itself, wired to our `ownable` instance.
from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]


# @dev secp256k1 recovery for EIP-3009 signatures: `_recover_vrs`
# refuses malleable (high-s) signatures and the zero signer. The module
# is stateless, so it needs no `uses:` or `initializes:`.
from snekmate.utils import ecdsa


# @dev Export the whole ERC-20 surface: ERC-20, EIP-2612 `permit`,
# EIP-5267 `eip712Domain`, mint/burn and the owner functions. Without
# this line the contract would compile with no external functions. The
# EIP-3009 functions below are this contract's own and need no export.
exports: erc20.__interface__


# @dev The EIP-3009 type hashes, as the EIP and FiatTokenV2 define them.
_TRANSFER_WITH_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)
_RECEIVE_WITH_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)
_CANCEL_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "CancelAuthorization(address authorizer,bytes32 nonce)"
)


# @dev Whether an authorizer's nonce has been used or canceled.
_authorization_states: HashMap[address, HashMap[bytes32, bool]]


# @dev Emitted when an authorization is used (its transfer done).
event AuthorizationUsed:
    authorizer: indexed(address)
    nonce: indexed(bytes32)


# @dev Emitted when an authorization is canceled before its use.
event AuthorizationCanceled:
    authorizer: indexed(address)
    nonce: indexed(bytes32)


@deploy
@payable
def __init__(initial_supply: uint256):
    """
    @notice Creates the token and mints `initial_supply` to the deployer.
    @param initial_supply The 32-byte amount (18 decimals) minted to
           `msg.sender`.
    """
    ownable.__init__()
    erc20.__init__("Agora Token", "AGR", 18, "Agora Token", "1")
    erc20._mint(msg.sender, initial_supply)


@external
@view
def authorizationState(authorizer: address, nonce: bytes32) -> bool:
    """
    @notice Returns whether `authorizer`'s authorization `nonce` has
            been used or canceled (EIP-3009).
    @param authorizer The 20-byte address of the authorizer.
    @param nonce The 32-byte nonce of the authorization.
    @return bool `True` once the nonce is used or canceled.
    """
    return self._authorization_states[authorizer][nonce]


@external
def transferWithAuthorization(
    from_: address,
    to: address,
    value_: uint256,
    validAfter: uint256,
    validBefore: uint256,
    nonce: bytes32,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    """
    @notice Moves `value_` tokens from `from_` to `to` with a signed
            authorization from `from_` (EIP-3009); anyone may submit it.
    @dev The ABI names `from_` and `value_` differ from the EIP's
         (`from` and `value` are reserved in Vyper); names are not part
         of the selector, which is the EIP's.
         Emits `AuthorizationUsed`, then `Transfer`.
    @param from_ The 20-byte payer address (the authorizer).
    @param to The 20-byte payee address.
    @param value_ The 32-byte amount to be transferred.
    @param validAfter The 32-byte time after which it is valid (unix seconds).
    @param validBefore The 32-byte time before which it is valid (unix seconds).
    @param nonce The 32-byte unique nonce chosen by the payer.
    @param v The secp256k1 1-byte signature parameter `v`.
    @param r The secp256k1 32-byte signature parameter `r`.
    @param s The secp256k1 32-byte signature parameter `s`.
    """
    self._transfer_with_authorization(
        _TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from_, to, value_, validAfter, validBefore, nonce, v, r, s
    )


@external
def receiveWithAuthorization(
    from_: address,
    to: address,
    value_: uint256,
    validAfter: uint256,
    validBefore: uint256,
    nonce: bytes32,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    """
    @notice Moves `value_` tokens from `from_` to the caller with a signed
            authorization from `from_` (EIP-3009); only the payee may
            submit it.
    @dev Unlike `transferWithAuthorization` it cannot be front-run: a
         contract that acts on the payment in the same call knows it was
         paid. The signed struct is `ReceiveWithAuthorization`, so a
         transfer authorization cannot be used here, nor the reverse.
    @param from_ The 20-byte payer address (the authorizer).
    @param to The 20-byte payee address; must be `msg.sender`.
    @param value_ The 32-byte amount to be transferred.
    @param validAfter The 32-byte time after which it is valid (unix seconds).
    @param validBefore The 32-byte time before which it is valid (unix seconds).
    @param nonce The 32-byte unique nonce chosen by the payer.
    @param v The secp256k1 1-byte signature parameter `v`.
    @param r The secp256k1 32-byte signature parameter `r`.
    @param s The secp256k1 32-byte signature parameter `s`.
    """
    assert to == msg.sender, "AgoraToken: caller must be the payee"
    self._transfer_with_authorization(
        _RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from_, to, value_, validAfter, validBefore, nonce, v, r, s
    )


@external
def cancelAuthorization(authorizer: address, nonce: bytes32, v: uint8, r: bytes32, s: bytes32):
    """
    @notice Cancels `authorizer`'s unused authorization `nonce`, with a
            signed `CancelAuthorization` from `authorizer` (EIP-3009);
            anyone may submit it.
    @param authorizer The 20-byte address of the authorizer.
    @param nonce The 32-byte nonce of the authorization to cancel.
    @param v The secp256k1 1-byte signature parameter `v`.
    @param r The secp256k1 32-byte signature parameter `r`.
    @param s The secp256k1 32-byte signature parameter `s`.
    """
    assert not self._authorization_states[authorizer][nonce], "AgoraToken: authorization is used or canceled"
    self._require_signed_by(authorizer, keccak256(abi_encode(_CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)), v, r, s)
    self._authorization_states[authorizer][nonce] = True
    log AuthorizationCanceled(authorizer=authorizer, nonce=nonce)


@internal
def _transfer_with_authorization(
    type_hash: bytes32,
    from_: address,
    to: address,
    value_: uint256,
    validAfter: uint256,
    validBefore: uint256,
    nonce: bytes32,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    """
    @dev Checks the window, the nonce and the signature of a transfer or
         receive authorization (`type_hash` says which), marks it used
         and moves the tokens through erc20's `_transfer`, which refuses
         the zero address and an amount above the balance.
    """
    assert block.timestamp > validAfter, "AgoraToken: authorization is not yet valid"
    assert block.timestamp < validBefore, "AgoraToken: authorization is expired"
    assert not self._authorization_states[from_][nonce], "AgoraToken: authorization is used or canceled"
    self._require_signed_by(
        from_, keccak256(abi_encode(type_hash, from_, to, value_, validAfter, validBefore, nonce)), v, r, s
    )
    self._authorization_states[from_][nonce] = True
    log AuthorizationUsed(authorizer=from_, nonce=nonce)
    erc20._transfer(from_, to, value_)


@internal
@view
def _require_signed_by(signer: address, struct_hash: bytes32, v: uint8, r: bytes32, s: bytes32):
    """
    @dev Reverts unless (`v`, `r`, `s`) is `signer`'s signature of
         `struct_hash` under the token's EIP-712 domain (the one
         `DOMAIN_SEPARATOR` and `eip712Domain` report, rebuilt if the
         chain id changes).
    """
    digest: bytes32 = erc20.eip712_domain_separator._hash_typed_data_v4(struct_hash)
    recovered: address = ecdsa._recover_vrs(digest, convert(v, uint256), convert(r, uint256), convert(s, uint256))
    assert recovered == signer, "AgoraToken: invalid signature"
