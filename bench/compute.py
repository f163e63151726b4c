"""Compute market: gas per job, verification overhead, whether cheating pays, jobs/s end to end.

- Gas (embedded chain, steady state): the sum over every transaction of one job from post to
  settlement, per policy; batches; against the Ocean compute-to-data anchor. See
  ``_compute_gas.py``.
- Verification overhead (embedded chain): real onnx-classify jobs run by three provider
  daemons; provider executions per job, counted by wrapping each daemon's ``execute``.
- Economics (anvil, the real contracts deciding everything): one stream of 10,000 AUDIT(0.1)
  jobs, replayed with the provider under test honest or cheating on 5 %, 20 %, 100 % of its
  jobs; net earnings in tokens. Cost model: computing a job costs 50 % of its pay. See
  ``_compute_econ.py``.
- Throughput: a requester and three daemons until every job is settled — in process on the
  embedded chain, and as three ``agora provider run`` processes on anvil.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write  # noqa: E402
from _compute_econ import COST_SHARE, E18, STAKE, UNITS, params, simulate  # noqa: E402
from _compute_flow import run_anvil, run_embedded  # noqa: E402
from _compute_gas import measure_gas  # noqa: E402
from agora.compute import Policy  # noqa: E402
from agora.compute.layer import COMPUTE_PARAMS  # noqa: E402

N_AUDIT = 100  # real jobs under AUDIT(0.1) (also the embedded jobs/s run)
N_REPLICATE = 30  # real jobs under REPLICATE(3)
N_ECON = 10_000  # jobs in the economic stream
CHEAT_RATES = (0.05, 0.2, 1.0)
N_ANVIL = 100  # jobs through provider processes on anvil
JOBS_PER_S_TARGET = 20

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


def main() -> None:
    figures: dict[str, float | int | str] = {}

    log("== gas per job (embedded chain, steady state)")
    figures.update(measure_gas(log))

    log(f"== verification overhead: {N_AUDIT} AUDIT(0.1) and {N_REPLICATE} REPLICATE(3) onnx-classify jobs, "
        "3 daemons on the embedded chain")
    audit = run_embedded(Policy.audit(0.1), N_AUDIT, log=log)
    rep = run_embedded(Policy.replicate(3), N_REPLICATE, log=log)
    figures.update({
        "verification_overhead_audit_0_1": audit["executions"] / audit["jobs"],
        "verification_overhead_replicate_3": rep["executions"] / rep["jobs"],
        "verification_audit_jobs": audit["jobs"],
        "verification_audit_jobs_audited": audit["audits"],
        "verification_replicate_jobs": rep["jobs"],
        "verification_jobs_settled_on_recomputed_digest": audit["correct"] + rep["correct"],
        "jobs_per_s_embedded": audit["jobs"] / audit["wall_s"],
        "jobs_per_s_embedded_replicate3": rep["jobs"] / rep["wall_s"],
    })

    log(f"== economics: one stream of {N_ECON} AUDIT(0.1) jobs, 5 honest providers + 1 under test "
        f"(stake {STAKE // E18} tokens each; computing a job costs {COST_SHARE:.0%} of its pay)")
    honest, *cheaters = simulate(N_ECON, [0.0, *CHEAT_RATES], log=log)
    p = params()
    figures.update({
        "honest_net_earnings": honest.net / E18,
        **{f"cheater_net_earnings_{round(c.rate * 100)}pct": c.net / E18 for c in cheaters},
        "econ_jobs": N_ECON,
        "econ_providers": 6,
        "econ_stake_per_provider_tokens": STAKE / E18,
        "econ_job_pay_tokens_min": UNITS[0] * 10**15 / E18,
        "econ_job_pay_tokens_max": UNITS[1] * 10**15 / E18,
        "econ_compute_cost_share_of_pay": COST_SHARE,
        "econ_audit_rate": 0.1,
        "econ_jobs_audited_honest_run": honest.total_audits,
        # the same quantity as verification_overhead_audit_0_1, over the 10,000 contract-drawn audits
        "verification_overhead_audit_0_1_econ_stream": sum(honest.all_executions.values()) / N_ECON,
        "honest_worker_jobs": honest.worker_jobs,
        "honest_executions": honest.executions,
        **{f"cheater_{round(c.rate * 100)}pct_worker_jobs": c.worker_jobs for c in cheaters},
        **{f"cheater_{round(c.rate * 100)}pct_times_slashed": c.slashed for c in cheaters},
        **{f"cheater_{round(c.rate * 100)}pct_slashed_tokens": c.slashed_amount / E18 for c in cheaters},
        **{f"cheater_{round(c.rate * 100)}pct_deactivated_after_job": c.deactivated_at_job or 0 for c in cheaters},
        "econ_assignments_after_deactivation": sum(c.drawn_while_inactive for c in cheaters),
        "min_audit_rate_for_honesty": p["p_min"],
        "min_audit_rate_for_honesty_without_stake": p["p_min_no_stake"],
        "econ_slash_per_offence_tokens": p["S"] / E18,
        "econ_seconds": sum(s.seconds for s in (honest, *cheaters)),
    })
    below = all(c.net < honest.net for c in cheaters)
    negative = all(c.net < 0 for c in cheaters if c.rate >= 0.2)
    figures["check_every_cheater_below_honest"] = below
    figures["check_cheaters_20pct_and_up_negative"] = negative
    if not below:
        p_fix = p["p_min"]
        log(f"note: with the default parameters a cheater out-earns honesty; audits at p >= C/(R+S) = {p_fix:.4f} "
            "(or a larger slash_bps / min_stake) would make honesty dominant")

    log(f"== throughput on anvil: {N_ANVIL} AUDIT(0.1) jobs, 3 `agora provider run` processes, "
        "post_many in chunks of 20")
    anv = run_anvil(N_ANVIL, log=log)
    figures.update({
        "jobs_per_s_anvil": anv["jobs"] / anv["wall_s"],
        "jobs_per_s_target": JOBS_PER_S_TARGET,
        "anvil_jobs": anv["jobs"],
        "anvil_jobs_settled_on_recomputed_digest": anv["correct"],
        "bench_seconds": time.perf_counter() - T0,
    })

    write("compute", figures)
    checks = [
        (f"every cheater earns less than the honest provider ({honest.net / E18:+.2f} tokens): "
         + ", ".join(f"{c.rate:.0%} {c.net / E18:+.2f}" for c in cheaters), below),
        ("every cheater at >= 20 % ends below zero", negative),
        ("no provider is drawn after its stake fell below the minimum",
         figures["econ_assignments_after_deactivation"] == 0),
        ("every real job settled on the digest a local run gives",
         figures["verification_jobs_settled_on_recomputed_digest"] == N_AUDIT + N_REPLICATE
         and anv["correct"] == N_ANVIL),
    ]
    for text, ok in checks:
        print(f"CHECK {'PASS' if ok else 'FAIL'}: {text}")
    rate = float(figures["jobs_per_s_anvil"])
    print(f"TARGET {'MET' if rate >= JOBS_PER_S_TARGET else 'MISSED'}: anvil end to end {rate:.1f} jobs/s "
          f"(target {JOBS_PER_S_TARGET}; reported, not asserted)")
    print(f"(default parameters: {COMPUTE_PARAMS})")
    if not all(ok for _, ok in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
