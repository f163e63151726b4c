"""x402's ``exact`` scheme on EVM: one EIP-3009 authorization per paid call.

The payer signs ``TransferWithAuthorization(from, to, value, validAfter, validBefore,
nonce)`` in the token's EIP-712 domain, with ``to`` the model's payee (a per-model
contract whose tokens anyone may sweep into the model's revenue pot, split like channel
claims) and ``value`` exactly the call's price. The service checks it off chain (the
terms, the time window, the signature, a replay of an authorization in flight or already
used on chain, the payer's balance), runs the model, then settles the authorization on
chain — itself, or through an x402 facilitator when one is configured — and answers only
once the transfer is mined. So every ``exact`` answer was paid, a refused or failed
settlement is never answered, and a replayed authorization buys nothing (the token marks
its nonce used). A third party that submits the authorization first only pays the payee
sooner; the call is then refused as replayed.

Money never rests with the service: it goes from the payer to the model's payee, and from
there only to the model's pot (:meth:`ExactPayments.sweep`, by anyone).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agora.chain import Chain, Signer
from agora.chain.eip712 import Domain
from agora.chain.permits import TransferAuthorization, fetch_token_domain, recover_authorizer
from agora.errors import AgoraError, ConfigError
from agora.value.x402 import EXACT_SCHEME, PaymentError, exact_offer

if TYPE_CHECKING:
    import httpx

    from agora.value.channels import Channels
    from agora.value.service import PaidService

__all__ = ["ExactPayments", "ExactTicket", "SETTLE_MARGIN_S", "build_exact_payments"]

#: An authorization must stay valid this long after it arrives, so that settling cannot outrun it.
SETTLE_MARGIN_S = 6
log = logging.getLogger("agora.value.exact")


@dataclass(frozen=True)
class ExactTicket:
    """An admitted ``exact`` payment: checked, reserved, not yet settled."""

    authorization: TransferAuthorization
    signature: bytes
    payment: dict[str, Any]  # the decoded PAYMENT-SIGNATURE (for a facilitator)
    offer: dict[str, Any]

    @property
    def payer(self) -> str:
        """Who pays (the authorization's ``from``)."""
        return self.authorization.from_

    @property
    def nonce_int(self) -> int:
        """The authorization's nonce as an integer (the receipt's ``nonce``)."""
        return int.from_bytes(self.authorization.nonce, "big")


class ExactPayments:
    """Sells one model's calls for EIP-3009 authorizations paid to its payee.

    ``settle`` sends ``transferWithAuthorization`` from ``signer`` (who pays the gas) under
    ``chain_lock`` unless ``facilitator`` (an x402 facilitator's base URL) is given, in which
    case the facilitator's ``/settle`` does. ``now`` is the time the next block will carry at
    the earliest (an authorization's window is checked against it).
    """

    def __init__(
        self, *, chain: Chain, channels: Channels, model_id: int, pay_to: str, signer: Signer,
        now: Callable[[], int], chain_lock: threading.RLock | None = None, facilitator: str | None = None,
        http: httpx.Client | None = None, max_timeout_s: int = 60, sweep_threshold: int = 0,
        domain: Domain | None = None,
    ) -> None:
        self.chain = chain
        self.channels = channels
        self.token = channels.token
        self.model_id = model_id
        self.pay_to = pay_to
        self.signer = signer
        self.now = now
        self.facilitator = facilitator.rstrip("/") if facilitator else None
        self.max_timeout_s = max_timeout_s
        #: sweep the payee into the pot once it holds this much (0: at every claim round)
        self.sweep_threshold = sweep_threshold
        #: the token's EIP-712 domain (read from the token unless given)
        self.domain: Domain = domain or fetch_token_domain(self.token)
        self._chain_lock = chain_lock or threading.RLock()
        self._inflight: set[tuple[str, bytes]] = set()
        self._lock = threading.Lock()
        self._http = http
        self.settled = 0  # calls settled by this process
        self.swept = 0

    # -- the offer ----------------------------------------------------------------------
    def offer(self, amount: int, receipt: dict[str, Any]) -> dict[str, Any]:
        """This request's ``exact`` offer (see :func:`agora.value.x402.exact_offer`)."""
        return exact_offer(
            chain_id=self.chain.chain_id, token=self.token.address, pay_to=self.pay_to, amount=amount,
            token_name=self.domain.name, token_version=self.domain.version, receipt=receipt,
            max_timeout_s=self.max_timeout_s,
        )

    # -- admit, settle, release -----------------------------------------------------------
    def admit(self, payment: dict[str, Any], offer: dict[str, Any], payload: dict[str, Any]) -> ExactTicket:
        """Check an ``exact`` payload pays ``offer`` and reserve its nonce; PaymentError if not.

        Reads the chain twice (the nonce's state and the payer's balance): cheap next to the
        settlement that follows."""
        auth, signature = _parse(payload)
        amount = int(offer["amount"])
        if auth.to.lower() != self.pay_to.lower():
            raise PaymentError(
                "wrong_recipient", f"the authorization pays {auth.to}, not this model's payee {self.pay_to}"
            )
        if auth.value != amount:
            raise PaymentError(
                "amount_mismatch", f"the authorization is for {auth.value}, this call costs exactly {amount}"
            )
        now = self.now()
        if auth.valid_after >= now:
            raise PaymentError(
                "authorization_not_yet_valid", f"the authorization is valid only after {auth.valid_after}"
            )
        if auth.valid_before <= now + SETTLE_MARGIN_S:
            raise PaymentError(
                "authorization_expired",
                f"the authorization expires at {auth.valid_before}, too soon to settle (now {now})",
                hint=f"sign one valid for at least {SETTLE_MARGIN_S} s more",
            )
        if recover_authorizer(self.domain, auth, signature) != auth.from_:
            raise PaymentError(
                "invalid_signature", f"the authorization is not signed by {auth.from_} for this token and chain"
            )
        key = (auth.from_.lower(), auth.nonce)
        with self._lock:
            if key in self._inflight:
                raise PaymentError("authorization_replayed", "this authorization is already being settled")
            self._inflight.add(key)
        try:
            with self._chain_lock:
                used = self.token.authorizationState(auth.from_, auth.nonce)
                balance = self.token.balanceOf(auth.from_)
            if used:
                raise PaymentError("authorization_replayed", "this authorization was already used or canceled")
            if balance < auth.value:
                raise PaymentError(
                    "insufficient_funds", f"{auth.from_} holds {balance}, less than the {auth.value} authorized"
                )
        except BaseException:
            self._forget(key)
            raise
        return ExactTicket(auth, signature, payment, offer)

    def settle(self, ticket: ExactTicket) -> str:
        """Settle the authorization on chain and return the transaction hash (``0x…``).

        PaymentError ``settlement_failed`` if the transfer did not happen; the nonce is
        released either way (the token now guards it)."""
        auth = ticket.authorization
        try:
            if self.facilitator:
                return self._settle_remote(ticket)
            v, r, s = ticket.signature[64], ticket.signature[:32], ticket.signature[32:64]
            if v < 27:
                v += 27
            try:
                with self._chain_lock:
                    receipt = self.token.transferWithAuthorization(
                        auth.from_, auth.to, auth.value, auth.valid_after, auth.valid_before, auth.nonce, v, r, s,
                        sender=self.signer,
                    )
            except AgoraError as exc:
                raise PaymentError("settlement_failed", f"the transfer was not settled: {exc}") from None
            self.settled += 1
            return receipt.tx_hash
        finally:
            self._forget((auth.from_.lower(), auth.nonce))

    def release(self, ticket: ExactTicket) -> None:
        """Give back an admitted payment that will not be settled (the model failed)."""
        self._forget((ticket.authorization.from_.lower(), ticket.authorization.nonce))

    def _forget(self, key: tuple[str, bytes]) -> None:
        with self._lock:
            self._inflight.discard(key)

    def _settle_remote(self, ticket: ExactTicket) -> str:
        import httpx

        body = {"x402Version": 2, "paymentPayload": ticket.payment, "paymentRequirements": ticket.offer}
        http = self._http or httpx.Client(timeout=60, trust_env=False)
        try:
            resp = http.post(f"{self.facilitator}/settle", json=body)
            answer = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PaymentError("settlement_failed", f"the facilitator at {self.facilitator} failed: {exc}") from None
        if resp.status_code != 200 or not answer.get("success"):
            reason = answer.get("errorReason") or answer.get("error") or f"HTTP {resp.status_code}"
            raise PaymentError("settlement_failed", f"the facilitator did not settle the payment: {reason}")
        self.settled += 1
        return str(answer.get("transaction", ""))

    # -- the payee -------------------------------------------------------------------------
    def unswept(self) -> int:
        """Tokens at the payee not yet swept into the model's pot."""
        with self._chain_lock:
            return int(self.token.balanceOf(self.pay_to))

    def sweep(self, *, force: bool = False) -> int:
        """Move the payee's tokens into the model's pot (split by the registered split) once they
        pass :attr:`sweep_threshold` (or ``force``); return the amount swept."""
        owed = self.unswept()
        if owed == 0 or (owed < self.sweep_threshold and not force):
            return 0
        with self._chain_lock:
            got = self.channels.sweep([self.model_id], self.signer)
        self.swept += got
        return got

    @property
    def scheme(self) -> str:
        """``exact``."""
        return EXACT_SCHEME


def _parse(payload: dict[str, Any]) -> tuple[TransferAuthorization, bytes]:
    raw = payload.get("authorization")
    if not isinstance(raw, dict):
        raise PaymentError("malformed_header", "the exact payload lacks 'authorization'")
    try:
        auth = TransferAuthorization.from_json(raw)
    except ValueError as exc:
        raise PaymentError("malformed_header", f"the authorization is malformed: {exc}") from None
    sig = payload.get("signature")
    try:
        if not isinstance(sig, str):
            raise ValueError
        signature = bytes.fromhex(sig[2:] if sig.startswith("0x") else sig)
    except ValueError:
        raise PaymentError("malformed_header", "the exact payload's signature is not hex") from None
    if len(signature) != 65:
        raise PaymentError(
            "invalid_signature",
            "the authorization's signature must be 65 bytes (smart-wallet signatures are not accepted)",
        )
    return auth, signature


def build_exact_payments(
    service: PaidService, *, facilitator: str | None = None, create_payee: bool = True, strict: bool = False,
    **options: Any,
) -> ExactPayments | None:
    """The ``exact`` scheme for ``service``'s model, or None (with a warning in the log) where the
    deployment cannot take it: a token without EIP-3009 (its EIP-712 domain unknown), or a
    ``PaymentChannels`` deployed before payees (redeploy with ``agora deploy --force``). With
    ``strict`` those raise ``ConfigError`` instead. Creates the model's payee (one transaction,
    once per model; never for a token that cannot take the scheme) unless ``create_payee=False``,
    when a model without one gets None. ``options``: :class:`ExactPayments`' tuning keywords."""
    channels = service.channels
    with service.chain_lock:
        try:
            domain = fetch_token_domain(channels.token)  # first: such a token needs no payee
            pay_to = channels.payee_of(service.model_id)
        except ConfigError as exc:
            if strict:
                raise
            log.warning("the exact scheme is off: %s", exc)
            return None
        if pay_to is None:
            if not create_payee:
                return None
            pay_to = channels.create_payee(service.model_id, service.signer)

    def now() -> int:
        # the next block carries at least the latest one's time + 1 (a devnet may run ahead of the wall)
        with service.chain_lock:
            latest = service.chain.timestamp()
        return max(int(time.time()), service.now(), latest + 1)

    return ExactPayments(
        chain=service.chain, channels=channels, model_id=service.model_id, pay_to=pay_to, signer=service.signer,
        now=now, chain_lock=service.chain_lock, facilitator=facilitator, domain=domain, **options,
    )
