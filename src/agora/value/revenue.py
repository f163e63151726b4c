"""Revenue: how a model's pot is split, what an address has earned, and withdrawing it.

The split rule is the contract's (``PaymentChannels.distribute``): every share but the
first gets ⌊amount × bps / 10,000⌋, the first gets the rest, so the parts add up to the
wei. :func:`split_amount` is the one Python copy of that rule; everything that predicts a
distribution (earnings, the demo's checks, the CLI) goes through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agora.chain import Signer
from agora.errors import ConfigError
from agora.value.channels import Channels
from agora.value.models import ModelRegistry, Share

__all__ = [
    "BPS",
    "MAX_WITHDRAW_MODELS",
    "Earnings",
    "ModelShare",
    "Withdrawal",
    "fetch_earnings",
    "payee_share",
    "plan_withdrawal",
    "split_amount",
    "withdraw_revenue",
]

#: Basis points in a whole split.
BPS = 10_000
#: Models a withdrawal distributes at most (the contract's limit).
MAX_WITHDRAW_MODELS = 32


def split_amount(amount: int, bps: Sequence[int]) -> list[int]:
    """The parts of ``amount`` a split of ``bps`` pays, as the contract rounds: every share but the
    first gets floor(amount × bps / 10,000), the first gets the rest."""
    if not bps:
        raise ValueError("a split has at least one share")
    parts = [amount * b // BPS for b in bps]
    parts[0] = amount - sum(parts[1:])
    return parts


def payee_share(shares: Sequence[Share], who: str, pot: int) -> tuple[int, int]:
    """(basis points, wei) of ``pot`` that distributing it pays ``who`` (0, 0 if not a payee)."""
    parts = split_amount(pot, [s.bps for s in shares])
    mine = [(s.bps, p) for s, p in zip(shares, parts, strict=True) if s.recipient.lower() == who.lower()]
    return sum(b for b, _ in mine), sum(p for _, p in mine)


@dataclass(frozen=True)
class ModelShare:
    """One model an address is a payee of: its basis points, the model's undistributed pot, and
    the part of that pot a distribution would pay it now."""

    model_id: int
    bps: int
    pot: int
    share: int


@dataclass(frozen=True)
class Earnings:
    """What ``address`` may withdraw now (``balance``) and its shares of undistributed pots."""

    address: str
    balance: int
    models: tuple[ModelShare, ...]

    @property
    def total(self) -> int:
        """The balance plus every pending share: what withdrawing after distributing all would pay."""
        return self.balance + sum(m.share for m in self.models)


def fetch_earnings(
    registry: ModelRegistry, channels: Channels, who: str, only: Sequence[int] | None = None,
) -> Earnings:
    """``who``'s withdrawable balance and its share of every model's pot (or of the models in
    ``only``; ConfigError for an unknown one). Walks the registry when ``only`` is not given."""
    if only:
        for model_id in only:
            registry.validate_exists(model_id)
        ids = list(dict.fromkeys(only))
    else:
        ids = registry.fetch_ids()
    pending = []
    for model_id in ids:
        shares = registry.split(model_id, resolved=True)
        if not any(s.recipient.lower() == who.lower() for s in shares):
            continue
        pot = channels.pot(model_id)
        bps, share = payee_share(shares, who, pot)
        pending.append(ModelShare(model_id, bps, pot, share))
    return Earnings(who, channels.balance_of(who), tuple(pending))


@dataclass(frozen=True)
class Withdrawal:
    """A withdrawal: the models whose pots it distributed first, and what it paid.

    ``left`` counts the models with revenue for this payee that it did not distribute
    (more than :data:`MAX_WITHDRAW_MODELS`): withdraw again for them."""

    address: str
    amount: int
    models: list[int]
    left: int = 0


def _validate_model_count(model_ids: Sequence[int] | None) -> None:
    if model_ids and len(model_ids) > MAX_WITHDRAW_MODELS:
        raise ConfigError(f"a withdrawal distributes at most {MAX_WITHDRAW_MODELS} models, got {len(model_ids)}")


def plan_withdrawal(earnings: Earnings, model_ids: Sequence[int] | None = None) -> tuple[list[int], int]:
    """The models a withdrawal should distribute (``model_ids`` as given, else those with a
    non-empty pot, at most :data:`MAX_WITHDRAW_MODELS`) and how many with revenue it leaves out.
    ConfigError if there are too many, or if it would pay nothing."""
    _validate_model_count(model_ids)
    owed = {m.model_id: m.share for m in earnings.models if m.pot}
    if model_ids:
        chosen, left = list(dict.fromkeys(model_ids)), 0
    else:
        chosen, left = list(owed)[:MAX_WITHDRAW_MODELS], max(len(owed) - MAX_WITHDRAW_MODELS, 0)
    if earnings.balance + sum(owed.get(m, 0) for m in chosen) == 0:
        raise ConfigError(f"{earnings.address} has nothing to withdraw",
                          hint="revenue reaches the pot once a model's service claims it (`agora model claim`)")
    return chosen, left


def withdraw_revenue(
    registry: ModelRegistry, channels: Channels, sender: Signer, model_ids: Sequence[int] | None = None,
) -> Withdrawal:
    """Distribute the pots of ``model_ids`` (default: every model with revenue ``sender`` shares
    in, see :func:`plan_withdrawal`) and pay ``sender`` its whole balance, in one transaction."""
    _validate_model_count(model_ids)  # before reading anything
    earnings = fetch_earnings(registry, channels, sender.address, only=model_ids)
    chosen, left = plan_withdrawal(earnings, model_ids)
    return Withdrawal(sender.address, channels.withdraw(sender, chosen), chosen, left)
