"""Gas of a compute job's whole life on the embedded chain (helper of ``bench/compute.py``).

Every figure is the sum of ``gas_used`` over every transaction a job needs from post to
settlement: post, each commit, each reveal, and ``open_audit`` when it is drawn. All are
measured in steady state: a few jobs of every policy run first (warm-up), so first-time
storage writes that a long-running market has already paid for — a provider's first
``owed`` balance, the treasury's, the requester's deposit, the token allowance — are not
counted. What a job always writes fresh (its two packed words, one commitment slot per
assignee) is counted, since every job pays it. Reputation moves only on verified outcomes (an audit
or a replication that agreed); the providers here are far from the top, so such a
settlement writes one reputation word per rewarded provider, as it would in a provider's
first ~150 verified jobs.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from eth_utils import keccak

from agora.chain import Signer, TxReceipt, connect
from agora.chain.merkle import merkle_root
from agora.compute import JobSpec, Market, Policy
from agora.compute.market import commitment
from agora.protocol import deploy_devnet
from agora.storage import cid_for, cid_to_bytes32

PRICE = 10**15
STAKE = 1_000 * 10**18
OCEAN_COMPUTE_ANCHOR = 428_000  # gas of one Ocean Protocol compute-to-data job (the brief's anchor)
REPEATS = 5  # jobs averaged per figure


class _Lab:
    """One embedded chain with the protocol, three providers (dev accounts 1-3) and a requester."""

    def __init__(self) -> None:
        self.chain = connect("embedded://")
        dep = deploy_devnet(self.chain)
        self.m = Market(dep)
        signers = self.chain.dev_signers
        self.by_addr: dict[str, Signer] = {s.address: s for s in signers}
        for i in (1, 2, 3):
            self.m.register(signers[i], kinds=[1], price=PRICE, stake=STAKE)
        self.req = signers[4]  # posts from a deposit
        self.payer = signers[5]  # posts with a transferFrom per job
        self.keeper = signers[6]  # calls open_audit (anyone may)
        self.m.deposit(10**24, self.req)
        self.n = 0

    def spec(self, policy: Policy, items: int = 1, units: int = 10) -> JobSpec:
        self.n += 1
        return JobSpec(
            kind=1, model=cid_for(b"gas-model"), input=cid_for(b"gas-input %d" % self.n),
            units=max(units, items), price_per_unit=PRICE, policy=policy, items=items,
        )

    @staticmethod
    def digest(job_id: int) -> bytes:
        return keccak(b"result of job %d" % job_id)

    @staticmethod
    def salt(job_id: int, who: str) -> bytes:
        return keccak(b"salt" + job_id.to_bytes(32, "big") + bytes.fromhex(who[2:]))

    def drawn(self, job_id: int) -> bool:
        """The audit draw of a job just committed. A call runs in the latest block's context,
        where the draw is not made yet (it needs the commit block's hash): mine an empty block
        first, as the provider daemon does on devnets. No gas is spent."""
        self.chain.mine(1)
        return self.m.is_audited(job_id)

    def commit(self, job_id: int, who: str, digest: bytes) -> TxReceipt:
        return self.m.commit(job_id, digest, self.salt(job_id, who), self.by_addr[who])

    def reveal(self, job_id: int, who: str, digest: bytes) -> TxReceipt:
        return self.m.reveal(job_id, digest, cid_for(digest), self.salt(job_id, who), self.by_addr[who])

    def lifecycle(self, spec: JobSpec, sender: Signer | None = None, digest: bytes | None = None) -> dict[str, Any]:
        """Run one job to settlement with honest providers; gas by phase, and whether it was audited."""
        ids, posted = self.m.post([spec], sender or self.req)
        job_id = ids[0]
        d = digest or self.digest(job_id)
        providers = self.m.job(job_id).providers
        commit_gas = sum(self.commit(job_id, p, d).gas_used for p in providers)
        audited = spec.policy.name == "audit" and self.drawn(job_id)
        audit_gas = open_gas = 0
        if audited:
            open_gas = self.m.contract.open_audit(job_id, sender=self.keeper).gas_used
            audit_gas += open_gas
            auditor = self.m.job(job_id).providers[1]
            audit_gas += self.commit(job_id, auditor, d).gas_used
            providers = [*providers, auditor]
        reveal_gas = sum(self.reveal(job_id, p, d).gas_used for p in providers)
        info = self.m.job(job_id)
        assert info.state.name == "SETTLED" and info.result == d, (job_id, info)
        return {
            "post": posted.gas_used, "commit": commit_gas, "audit": audit_gas, "reveal": reveal_gas,
            "total": posted.gas_used + commit_gas + audit_gas + reveal_gas, "open_audit": open_gas,
            "audited": audited,
        }

    def steady(self, policy: Policy, audited: bool | None = None, sender: Signer | None = None) -> dict[str, float]:
        """Mean gas by phase over REPEATS jobs of ``policy`` (only those with the wanted audit draw)."""
        runs: list[dict[str, Any]] = []
        while len(runs) < REPEATS:
            if sender is not None and self.m.owed(sender.address):
                self.m.withdraw(sender)  # this requester keeps no balance in the market
            r = self.lifecycle(self.spec(policy), sender=sender)
            if audited is None or r["audited"] == audited:
                runs.append(r)
        return {k: mean(r[k] for r in runs) for k in ("post", "commit", "audit", "open_audit", "reveal", "total")}

    def batch(self, items: int = 100) -> dict[str, float]:
        """One batch job of ``items`` inputs: one post, one commit, one reveal of a Merkle root."""
        while True:
            ids, posted = self.m.post([self.spec(Policy.audit(0.1), items=items, units=items)], self.req)
            job_id = ids[0]
            root = merkle_root([keccak(b"item %d of %d" % (i, job_id)) for i in range(items)])
            (worker,) = self.m.job(job_id).providers
            c = self.commit(job_id, worker, root)
            if self.drawn(job_id):  # the 1-in-10 audited path: finish it and draw again
                self.m.contract.open_audit(job_id, sender=self.keeper)
                auditor = self.m.job(job_id).providers[1]
                self.commit(job_id, auditor, root)
                self.reveal(job_id, worker, root)
                self.reveal(job_id, auditor, root)
                continue
            r = self.reveal(job_id, worker, root)
            total = posted.gas_used + c.gas_used + r.gas_used
            return {"total": total, "per_job": total / items}

    def many(self, n: int = 100) -> dict[str, float]:
        """``n`` separate AUDIT(0.1) jobs: one post_many, one commit_many and one reveal_many per provider."""
        specs = [self.spec(Policy.audit(0.1)) for _ in range(n)]
        ids, posted = self.m.post(specs, self.req)
        workers: dict[str, list[int]] = {}
        for j in ids:
            workers.setdefault(self.m.job(j).providers[0], []).append(j)
        commit_gas = 0
        for who, js in workers.items():
            cs = [commitment(j, who, self.digest(j), self.salt(j, who)) for j in js]
            commit_gas += self.m.contract.commit_many(js, cs, sender=self.by_addr[who]).gas_used
        self.chain.mine(1)
        audited = {j for j in ids if self.m.is_audited(j)}
        reveal_gas, revealed = 0, 0
        for who, js in workers.items():
            ok = [j for j in js if j not in audited]
            if ok:
                reveal_gas += self._reveal_many(who, ok).gas_used
                revealed += len(ok)
        # the audited ones: open_audit each, auditors commit together, everyone reveals together
        audit_gas = 0
        auditors: dict[str, list[int]] = {}
        for j in sorted(audited):
            audit_gas += self.m.contract.open_audit(j, sender=self.keeper).gas_used
            auditors.setdefault(self.m.job(j).providers[1], []).append(j)
        for who, js in auditors.items():
            cs = [commitment(j, who, self.digest(j), self.salt(j, who)) for j in js]
            audit_gas += self.m.contract.commit_many(js, cs, sender=self.by_addr[who]).gas_used
        pending: dict[str, list[int]] = {}
        for j in sorted(audited):
            for who in self.m.job(j).providers:
                pending.setdefault(who, []).append(j)
        for who, js in pending.items():
            audit_gas += self._reveal_many(who, js).gas_used
        for j in ids:
            assert self.m.job(j).state.name == "SETTLED", j
        per_job = posted.gas_used / n + commit_gas / n + reveal_gas / max(revealed, 1)
        all_in = (posted.gas_used + commit_gas + reveal_gas + audit_gas) / n
        return {"per_job": per_job, "all_in": all_in, "audited": len(audited), "post_many": posted.gas_used}

    def _reveal_many(self, who: str, js: list[int]) -> TxReceipt:
        ds = [self.digest(j) for j in js]
        return self.m.contract.reveal_many(
            js, ds, [cid_to_bytes32(cid_for(d)) for d in ds], [self.salt(j, who) for j in js],
            sender=self.by_addr[who],
        )


def measure_gas(log: Any = print) -> dict[str, float | int]:
    """The gas figures of ``bench/results/compute.json`` (see the module docstring)."""
    lab = _Lab()
    log("gas: warm-up (first-time storage writes are not counted)")
    for policy in (Policy.none(), Policy.audit(0.1), Policy.audit(1.0), Policy.replicate(3)):
        for _ in range(3):
            lab.lifecycle(lab.spec(policy))
    lab.m.ensure_allowance(lab.payer, lab.m.contract.address, 2**255)
    lab.lifecycle(lab.spec(Policy.audit(0.1)), sender=lab.payer)
    lab.batch(100)
    log("gas: lifecycles")
    none = lab.steady(Policy.none())
    audit = lab.steady(Policy.audit(0.1), audited=False)
    audited = lab.steady(Policy.audit(1.0), audited=True)
    rep3 = lab.steady(Policy.replicate(3))
    transfer = lab.steady(Policy.audit(0.1), audited=False, sender=lab.payer)
    log("gas: batch of 100 items, and 100 jobs with post_many/commit_many/reveal_many")
    batch = lab.batch(100)
    many = lab.many(100)
    p = 0.1
    expected = (1 - p) * audit["total"] + p * audited["total"]
    return {
        "gas_job_lifecycle_none": round(none["total"]),
        "gas_job_lifecycle_audit": round(audit["total"]),
        "gas_job_post_audit": round(audit["post"]),
        "gas_job_commit_audit": round(audit["commit"]),
        "gas_job_reveal_settle_audit": round(audit["reveal"]),
        "gas_job_post_audit_transfer": round(transfer["post"]),
        "gas_job_lifecycle_audit_transfer": round(transfer["total"]),
        "gas_job_lifecycle_audit_audited": round(audited["total"]),
        "gas_job_open_audit": round(audited["open_audit"]),
        "gas_job_lifecycle_audit_0_1_expected": round(expected),
        "gas_job_lifecycle_replicate3": round(rep3["total"]),
        "gas_job_post_replicate3": round(rep3["post"]),
        "gas_per_job_batch100": round(batch["per_job"]),
        "gas_job_batch100_total": round(batch["total"]),
        "gas_per_job_post_many100_commit_many_reveal_many": round(many["per_job"]),
        "gas_per_job_post_many100_all_in_audit_0_1": round(many["all_in"]),
        "gas_ocean_compute_anchor": OCEAN_COMPUTE_ANCHOR,
        "gas_lifecycle_audit_vs_ocean_ratio": audit["total"] / OCEAN_COMPUTE_ANCHOR,
        "gas_lifecycle_audit_expected_vs_ocean_ratio": expected / OCEAN_COMPUTE_ANCHOR,
        "gas_per_job_batch100_vs_ocean_ratio": batch["per_job"] / OCEAN_COMPUTE_ANCHOR,
    }


if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only as part of compute.py
    pass
