"""Value layer: gas of payment channels, chain traffic per paid call, paid vs bare throughput.

- Gas (embedded chain, steady state): open, claim, claim_many per extra channel (50
  channels), distribute three ways, withdraw, and claim + split; against SingularityNET's
  MultiPartyEscrow anchors; a model's registration on one dataset, with and without the check
  that the dataset exists in the data layer's registry. See ``_value_gas.py``.
- Signing (this process): one cheque signed with ``agora.value.cheques.sign_cheque`` vs
  eth_account's ``Account.sign_typed_data`` on the same typed data; one cheque checked
  (signer recovered) as the server does.
- HTTP on anvil: each model served twice on loopback by uvicorn, paid (``create_app``) and
  bare (same model, same workload, no payment), driven by the same load in alternating
  phases; calls/s of each and their ratio, server and client CPU per call, and every
  JSON-RPC request the paid server's chain connection sent while serving. See
  ``_value_http.py`` for what the calls/s figures include.
- x402 ``exact`` over HTTP on anvil (digits): the same client threads pay the same paid server
  with one EIP-3009 authorization per call, which it settles on chain before answering
  (``exact_paid_calls_per_s``); the gas of one such settlement is ``gas_exact_settle``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eth_account import Account  # noqa: E402

from _common import write  # noqa: E402
from _value_gas import BATCH, measure_gas  # noqa: E402
from _value_http import CLIENTS, PRICE, Lab, run_model, summarise  # noqa: E402
from agora.chain.accounts import dev_signer  # noqa: E402
from agora.value.channels import encode_channel_id  # noqa: E402
from agora.value.cheques import channels_domain, cheque_typed_data, sign_cheque  # noqa: E402

N_SIGN = 5_000
GOAL_CLAIM = 45_000
GOAL_PER_EXTRA = 12_000
GOAL_OPEN = 120_000
GOAL_RATIO = 0.9
ROUNDS = 3  # bare, paid, bare, paid, bare, paid
ONNX_PHASE_S = 5.0
MINILM_PHASE_S = 7.0
EXACT_PHASE_S = 5.0

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


def measure_signing(n: int = N_SIGN) -> dict[str, float]:
    """Microseconds per cheque: sign (fast path and eth_account), and the server's check."""
    signer = dev_signer(4)
    domain = channels_domain(31337, "0x" + "ab" * 20)
    channel = encode_channel_id(signer.address, model_id=1, sequence=1)
    key = signer._account.key
    t = time.perf_counter()
    cheques = [sign_cheque(signer, domain, channel, i, i * PRICE) for i in range(1, n + 1)]
    sign_us = 1e6 * (time.perf_counter() - t) / n
    t = time.perf_counter()
    naive = [
        bytes(Account.sign_typed_data(key, full_message=cheque_typed_data(domain, channel, i, i * PRICE)).signature)
        for i in range(1, n + 1)
    ]
    naive_us = 1e6 * (time.perf_counter() - t) / n
    assert naive == [q.signature for q in cheques], "the fast path signs other bytes than eth_account"
    t = time.perf_counter()
    ok = sum(q.signer(domain) == signer.address for q in cheques)
    verify_us = 1e6 * (time.perf_counter() - t) / n
    assert ok == n
    return {
        "client_sign_us_per_call": sign_us,
        "client_sign_us_per_call_eth_account": naive_us,
        "client_sign_eth_account_vs_fast_ratio": naive_us / sign_us,
        "server_verify_us_per_call": verify_us,
        "sign_samples": n,
    }


def main() -> None:
    figures: dict[str, float | int | str] = {}
    log("== anvil: the protocol, two models, their paid and bare servers (loading in the background)")
    with Lab(log) as lab:
        log("== gas (embedded chain, steady state; gas does not depend on the servers loading meanwhile)")
        figures.update(measure_gas(log))
        lab.wait_ready()

        log(f"== signing one cheque, mean over {N_SIGN} (servers idle)")
        figures.update(measure_signing())
        log(f"  sign {figures['client_sign_us_per_call']:.0f} us (eth_account "
            f"{figures['client_sign_us_per_call_eth_account']:.0f} us), "
            f"verify {figures['server_verify_us_per_call']:.0f} us")

        log(f"== paid vs bare over HTTP on anvil: {CLIENTS} client threads, phases bare/paid x {ROUNDS}")
        onnx = run_model(lab, "onnx", phase_s=ONNX_PHASE_S, rounds=ROUNDS, warmup=25, log=log, sdk=True,
                         exact_s=EXACT_PHASE_S)
        minilm = run_model(lab, "minilm", phase_s=MINILM_PHASE_S, rounds=ROUNDS, warmup=5, log=log)
    so, sm = summarise(onnx), summarise(minilm)
    calls = onnx["paid_calls"] + minilm["paid_calls"]
    warm = onnx["warm_calls"] + minilm["warm_calls"]
    rpc_steady = onnx["rpc_steady"] + minilm["rpc_steady"]
    rpc_first = onnx["rpc_incl_first"] + minilm["rpc_incl_first"]
    rpc_sync = onnx["rpc_sync"] + minilm["rpc_sync"]
    serving_s = onnx["serving_s"] + minilm["serving_s"]
    figures.update({
        # JSON-RPC requests from the threads that serve calls, over every paid call of both
        # models after each channel's first calls (the clients' channels already open)
        "chain_rpc_per_paid_call": rpc_steady / calls,
        "chain_rpc_paid_calls_counted": calls,
        # the same from before the first call on each fresh channel (opened just before)
        "chain_rpc_per_paid_call_incl_first": rpc_first / (calls + warm),
        "chain_rpc_requests_incl_first": rpc_first,
        "chain_rpc_fresh_channels": 2 * CLIENTS,
        # the background thread's syncs and claims: per second, not per call; spread over the
        # paid calls of the whole window (bare phases included, so an upper bound)
        "chain_rpc_background_per_s": rpc_sync / serving_s,
        "chain_rpc_all_threads_per_paid_call": (rpc_first + rpc_sync) / (calls + warm),
        "claim_transactions_while_serving": onnx["claims"] + minilm["claims"],
        "paid_calls_per_s": so["paid_calls_per_s"],
        "bare_calls_per_s": so["bare_calls_per_s"],
        "paid_vs_bare_throughput_ratio": so["ratio"],
        "paid_vs_bare_throughput_ratio_round_min": so["ratio_round_min"],
        "paid_vs_bare_throughput_ratio_round_max": so["ratio_round_max"],
        "server_overhead_us_per_call": 1e6 / so["paid_calls_per_s"] - 1e6 / so["bare_calls_per_s"],
        "server_cpu_us_per_call_paid": so["paid_server_cpu_us_per_call"],
        "server_cpu_us_per_call_bare": so["bare_server_cpu_us_per_call"],
        # where the server's CPU goes: the event loop (uvicorn, FastAPI), the threadpool that runs
        # the handlers (the model; for paid also x402, the cheque check, SQLite, the receipt), and
        # the paid app's background thread (sync from events, claim transactions). The paid app
        # runs a tiny model's calls on the event loop (create_app's inline_max_s): its handler
        # CPU is then in the event loop's figure
        "server_cpu_us_per_call_paid_event_loop": so["paid_server_main_cpu_us_per_call"],
        "server_cpu_us_per_call_bare_event_loop": so["bare_server_main_cpu_us_per_call"],
        "server_cpu_us_per_call_paid_handlers": so["paid_server_request_cpu_us_per_call"],
        "server_cpu_us_per_call_bare_handlers": so["bare_server_request_cpu_us_per_call"],
        "server_cpu_us_per_call_paid_background": so["paid_server_sync_cpu_us_per_call"],
        "client_cpu_us_per_call_paid": so["paid_client_cpu_us_per_call"],
        "client_cpu_us_per_call_bare": so["bare_client_cpu_us_per_call"],
        # x402 exact against the same paid server (digits): a transaction settled per call
        "exact_paid_calls_per_s": onnx["exact_calls_per_s"],
        "exact_vs_channel_paid_throughput_ratio": onnx["exact_calls_per_s"] / so["paid_calls_per_s"],
        "server_cpu_us_per_call_exact": onnx["exact_server_cpu_us_per_call"],
        "server_cpu_us_per_call_exact_handlers": onnx["exact_server_cpu_us_per_call_handlers"],
        "client_cpu_us_per_call_exact": onnx["exact_client_cpu_us_per_call"],
        "exact_paid_calls_counted": onnx["exact_calls"],
        "paid_calls_per_s_minilm": sm["paid_calls_per_s"],
        "bare_calls_per_s_minilm": sm["bare_calls_per_s"],
        "paid_vs_bare_throughput_ratio_minilm": sm["ratio"],
        "paid_vs_bare_throughput_ratio_minilm_round_min": sm["ratio_round_min"],
        "paid_vs_bare_throughput_ratio_minilm_round_max": sm["ratio_round_max"],
        "server_overhead_us_per_call_minilm": 1e6 / sm["paid_calls_per_s"] - 1e6 / sm["bare_calls_per_s"],
        "server_cpu_us_per_call_paid_minilm": sm["paid_server_cpu_us_per_call"],
        "server_cpu_us_per_call_bare_minilm": sm["bare_server_cpu_us_per_call"],
        "http_client_threads": CLIENTS,
        "receipts_checked": onnx["receipts_checked"] + minilm["receipts_checked"],
        "bench_seconds": time.perf_counter() - T0,
    })
    write("value", figures)

    checks = []
    for name, r in (("onnx", onnx), ("minilm", minilm)):
        checks.append((
            f"{name}: the paid server claimed on chain exactly what it charged "
            f"({r['claimed_on_chain']} = {r['earned']} wei)",
            r["claimed_on_chain"] == r["earned"],
        ))
    checks.append((f"every paid answer's receipt checked ({figures['receipts_checked']})",
                   figures["receipts_checked"] == calls + warm))
    checks.append((f"at least 500 paid calls counted for chain traffic ({calls})", calls >= 500))
    checks.append(("the SDK client (ModelsClient) paid for 10 calls over HTTP", onnx.get("sdk_calls") == 10))
    answered = onnx["exact_answered"]
    checks.append((f"exact: every answer's receipt checked ({onnx['exact_receipts_checked']}) and settled on chain "
                   f"({onnx['exact_settled']} in the phase), the payers paid exactly the calls answered "
                   f"({onnx['exact_paid_wei']} = {answered} x {PRICE} wei)",
                   onnx["exact_receipts_checked"] == answered and onnx["exact_settled"] == onnx["exact_calls"]
                   and onnx["exact_paid_wei"] == answered * PRICE))
    for text, ok in checks:
        print(f"CHECK {'PASS' if ok else 'FAIL'}: {text}")
    goals = [
        (f"claim <= {GOAL_CLAIM:,} gas: {figures['gas_claim_one']:,}", figures["gas_claim_one"] <= GOAL_CLAIM),
        (f"<= {GOAL_PER_EXTRA:,} gas per extra channel in a batch of {BATCH}: "
         f"{figures['gas_claim_batch_per_extra_channel']:,}",
         figures["gas_claim_batch_per_extra_channel"] <= GOAL_PER_EXTRA),
        (f"open <= {GOAL_OPEN:,} gas: {figures['gas_channel_open']:,} (first channel ever "
         f"{figures['gas_channel_open_first']:,})", figures["gas_channel_open"] <= GOAL_OPEN),
        (f"zero chain RPC per paid call: {figures['chain_rpc_per_paid_call']:.4f} "
         f"({rpc_steady} requests over {calls} calls; incl. first calls "
         f"{figures['chain_rpc_per_paid_call_incl_first']:.4f})", rpc_steady == 0),
        (f"paid >= {GOAL_RATIO:.0%} of bare throughput (onnx digits): {so['ratio']:.1%} "
         f"({so['paid_calls_per_s']:.0f} vs {so['bare_calls_per_s']:.0f} calls/s)", so["ratio"] >= GOAL_RATIO),
        (f"paid >= {GOAL_RATIO:.0%} of bare throughput (embed-minilm): {sm['ratio']:.1%} "
         f"({sm['paid_calls_per_s']:.1f} vs {sm['bare_calls_per_s']:.1f} calls/s)", sm["ratio"] >= GOAL_RATIO),
    ]
    for text, ok in goals:
        print(f"GOAL {'PASS' if ok else 'MISS'}: {text}")
    if not all(ok for _, ok in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
