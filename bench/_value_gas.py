"""Gas of payment channels on the embedded chain (helper of ``bench/value.py``).

Every figure is a receipt's ``gas_used``, in steady state unless named ``_first``: storage
that a running market has already written once is warm. So ``open`` is not the contract's
first channel (the channel counter and the contract's token balance are already non-zero),
the payer already holds tokens and has approved the contract once; a ``claim`` is on a
channel claimed before, with the model's pot non-zero (the split is deferred: a claim only
adds to the pot, and ``distribute`` splits it later, once for many claims). To be honest
about that deferral, ``gas_claim_one_plus_split_3way`` is the cycle "claim on an empty pot,
then distribute it three ways", as a service that split after every claim would pay.

``gas_model_register`` is one model's registration (card, weights, URI, one dataset, one compute job,
a three-way split) on the deployed registry, which checks the dataset in the data layer's registry
(a read-only ``ownerOf`` call); ``gas_model_register_unchecked`` is the same on a registry deployed
without a dataset registry, and ``gas_model_register_dataset_check`` the difference: what the link
to the data layer costs per dataset.

``gas_exact_settle`` is one x402 ``exact`` payment as the server settles it: the service's key
sends ``transferWithAuthorization`` (EIP-3009) of one call's price from the payer to the model's
payee, once per call; ``_first`` is to a payee holding nothing (its first payment, or the first
after a sweep emptied it).

The anchors are SingularityNET's MultiPartyEscrow, measured on the same EVM and kept here as
constants: ``channelClaim`` 50,115 gas, 24,400 per extra channel in ``multiChannelClaim``,
``openChannel`` 172,552. MPE's claim credits one recipient and splits nothing, so
``gas_claim_one_vs_mpe_ratio`` compares like with like, while
``gas_claim_one_plus_split_3way_vs_mpe_ratio`` shows what a three-way split after every
single claim would cost instead.
"""

from __future__ import annotations

from statistics import median
from typing import Any

from eth_account import Account

from agora.chain import connect, deploy, signer_from_key
from agora.chain.permits import (
    TransferAuthorization,
    fetch_token_domain,
    new_authorization_nonce,
    sign_transfer_authorization,
)
from agora.protocol import Deployment, deploy_devnet
from agora.storage import cid_for
from agora.value import Channels, ModelCard, ModelRegistry, Share, sign_cheque
from agora.value.models import OWNER

MPE_CLAIM_ONE = 50_115
MPE_CLAIM_PER_EXTRA_CHANNEL = 24_400
MPE_OPEN = 172_552

BATCH = 50  # channels in the measured claim_many
PRICE = 10**15
DEPOSIT = 10**19
REPEATS = 5


def measure_gas(log: Any = print) -> dict[str, float | int]:
    """The gas figures of ``bench/results/value.json`` (see the module docstring)."""
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    reg, chans = ModelRegistry(dep), Channels(dep)
    dev = chain.dev_signers
    owner, data_owner, compute_owner = dev[1], dev[2], dev[3]
    card = ModelCard(
        name="gas", kind="onnx-classify", weights_cid="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        weights_hash="0x" + "11" * 32, price=PRICE,
    )
    split = [Share(OWNER, 7000), Share(data_owner.address, 2000), Share(compute_owner.address, 1000)]
    dataset = publish_dataset(dep, data_owner)
    mid, _ = reg.register(card, owner, split=split, datasets=[dataset], jobs=[2])
    register, register_unchecked = measure_register(chain, dep, reg, card, split, dataset, owner)

    log(f"gas: {BATCH + 2} payers funded, approved once")
    payers = [signer_from_key(Account.create().key) for _ in range(BATCH + 2)]
    for p in payers:
        chain.transfer_native(p.address, 10**18, dev[0])
        dep.token.transfer(p.address, 10**21, sender=dev[0])
        dep.token.approve(chans.address, 2**256 - 1, sender=p)
    expiry = chain.timestamp() + 86_400

    ids, open_gas = [], []
    for p in payers:
        cid, r = chans.open(mid, DEPOSIT, expiry, p)
        ids.append(cid)
        open_gas.append(r.gas_used)
    # a payer's second channel (to a second model) costs the same as a first one: one word
    open_first, open_steady = open_gas[0], round(median(open_gas[1:]))

    nonce = [0] * len(ids)

    def cheque(i: int) -> Any:
        nonce[i] += 1
        return sign_cheque(payers[i], chans.domain, ids[i], nonce[i], nonce[i] * PRICE)

    # single claims on channel 0: the first one fills the empty pot, the rest are steady
    claim_first = chans.claim(cheque(0), owner).gas_used
    claim_one = round(median(chans.claim(cheque(0), owner).gas_used for _ in range(REPEATS)))

    # claim_many: one warm-up round (every channel claimed once), then the measured round
    one, many = [1], list(range(2, 2 + BATCH))
    for _ in range(2):
        g1 = chans.claim_many([cheque(i) for i in one], owner)[0].gas_used
        (rb,) = chans.claim_many([cheque(i) for i in many], owner)
        gb = rb.gas_used
    per_extra = (gb - g1) / (BATCH - 1)

    # distribute: the first ever credits three empty balances; then recipients hold balances
    chans.distribute(mid, owner)
    chans.claim(cheque(0), owner)
    dist = chans.distribute(mid, owner).gas_used  # pot non-zero, all three balances non-zero
    # withdraw: the recipient holds tokens already (dev account), its balance is non-zero
    withdraw = chans.contract.withdraw([], sender=data_owner).gas_used
    for who in (owner, compute_owner):
        chans.contract.withdraw([], sender=who)
    chans.claim(cheque(0), owner)  # refill the pot
    dist_after_withdraw = chans.distribute(mid, owner).gas_used  # all three balances were zero

    # claim + split every time: claim on an empty pot, then distribute (balances non-zero)
    cycle_claim, cycle_dist = [], []
    for _ in range(REPEATS):
        cycle_claim.append(chans.claim(cheque(0), owner).gas_used)
        cycle_dist.append(chans.distribute(mid, owner).gas_used)
    claim_empty_pot = round(median(cycle_claim))
    claim_plus_split = round(median(c + d for c, d in zip(cycle_claim, cycle_dist, strict=True)))

    settle_first, settle = measure_exact_settle(chain, dep, chans, mid, owner, payers[-1])
    log(f"gas: open {open_steady} (first {open_first}), claim {claim_one} (first {claim_first}), "
        f"claim_many {g1} / {gb} for 1 / {BATCH}, distribute {dist}, withdraw {withdraw}, "
        f"exact settle {settle} (payee empty {settle_first}), register {register} "
        f"(unchecked {register_unchecked})")
    return {
        "gas_channel_open": open_steady,
        "gas_channel_open_first": open_first,
        "gas_claim_one": claim_one,
        "gas_claim_one_first": claim_first,
        "gas_claim_one_pot_empty": claim_empty_pot,
        "gas_claim_batch_1": g1,
        f"gas_claim_batch_{BATCH}": gb,
        "gas_claim_batch_per_extra_channel": round(per_extra, 1),
        "gas_distribute_3way": dist,
        "gas_distribute_3way_balances_empty": dist_after_withdraw,
        "gas_withdraw": withdraw,
        "gas_claim_one_plus_split_3way": claim_plus_split,
        "gas_mpe_claim_one": MPE_CLAIM_ONE,
        "gas_mpe_claim_per_extra_channel": MPE_CLAIM_PER_EXTRA_CHANNEL,
        "gas_mpe_open": MPE_OPEN,
        "gas_claim_one_vs_mpe_ratio": claim_one / MPE_CLAIM_ONE,
        "gas_claim_batch_per_extra_channel_vs_mpe_ratio": per_extra / MPE_CLAIM_PER_EXTRA_CHANNEL,
        "gas_channel_open_vs_mpe_ratio": open_steady / MPE_OPEN,
        "gas_claim_one_plus_split_3way_vs_mpe_ratio": claim_plus_split / MPE_CLAIM_ONE,
        "gas_exact_settle": settle,
        "gas_exact_settle_first": settle_first,
        "gas_model_register": register,
        "gas_model_register_unchecked": register_unchecked,
        "gas_model_register_dataset_check": register - register_unchecked,
    }


def publish_dataset(dep: Deployment, owner: Any) -> int:
    """One dataset in the data layer's registry (not for sale), for the models to be trained on."""
    from agora.data import DataRegistry  # the bench sits above the layers: it may use them all

    dataset, _ = DataRegistry(dep).publish(owner, card=cid_for(b"gas dataset card"), content_hash=b"\x11" * 32)
    return dataset


def measure_register(
    chain: Any, dep: Deployment, reg: ModelRegistry, card: ModelCard, split: list[Share], dataset: int, owner: Any,
) -> tuple[int, int]:
    """Gas of registering a model on one dataset: (on the deployed registry, which checks the dataset;
    on a registry without a dataset registry). Each registration is a new model (new storage), so the
    median of a few is the steady figure."""
    unchecked = deploy(chain, "ModelRegistry", OWNER, sender=chain.dev_signers[0])
    reg_unchecked = ModelRegistry(Deployment(chain, {**dep.addresses, "models": unchecked.address},
                                             dict(dep.artifacts), dep.block))
    reg_unchecked.register(card, owner, split=split, datasets=[dataset], jobs=[2])  # its first model (next_id warm)

    def gas(r: ModelRegistry) -> int:
        return round(median(r.register(card, owner, split=split, datasets=[dataset], jobs=[2])[1].gas_used
                            for _ in range(REPEATS)))

    return gas(reg), gas(reg_unchecked)


def measure_exact_settle(
    chain: Any, dep: Any, chans: Channels, model_id: int, service: Any, payer: Any,
) -> tuple[int, int]:
    """Gas of one x402 ``exact`` settlement as the server sends it (``transferWithAuthorization`` of one
    call's price to the model's payee, from the service's key): (payee empty, payee already holding tokens).
    The payer holds tokens in both; each authorization's random nonce is a fresh slot, as on every call."""
    pay_to = chans.create_payee(model_id, service)
    token = dep.token
    domain = fetch_token_domain(token)
    valid_before = chain.timestamp() + 3_600

    def settle() -> int:
        auth = TransferAuthorization(payer.address, pay_to, PRICE, 0, valid_before, new_authorization_nonce())
        sig = sign_transfer_authorization(payer, domain, auth)
        r = token.transferWithAuthorization(
            auth.from_, auth.to, auth.value, auth.valid_after, auth.valid_before, auth.nonce, sig[64], sig[:32],
            sig[32:64], sender=service,
        )
        return int(r.gas_used)

    assert token.balanceOf(pay_to) == 0
    first = settle()  # the payee's balance goes from zero (as after every sweep)
    steady = round(median(settle() for _ in range(REPEATS)))
    return first, steady


if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only as part of value.py
    pass
