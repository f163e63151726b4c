"""Compute-to-data: a consumer's algorithm runs next to the data, in a sandbox on the holder's
node, and only its result leaves — to that consumer, with the result's hash on chain.

**Who does what.**

* The dataset's owner (or manager) allows algorithms by content hash (``DataServices``: deny by
  default), names the dataset's **compute node** (the holder's account, registered in the
  compute market's ``ProviderRegistry`` as a provider of kind :data:`C2D_KIND`) and sets an
  output policy and a privacy budget.
* The consumer orders the dataset's compute service (:data:`C2D_SERVICE`, a datatoken spent and
  split like any order) and posts a ``ComputeMarket`` job with the ``DIRECT`` policy naming the
  holder's node: the payment is escrowed with a deadline, refunded if the node declines or stays
  silent. The job's ``model`` is the digest of the algorithm's CID and its ``input`` the digest of
  the :class:`C2DRequest`'s CID (dataset, order, consumer, algorithm, parameters, ε), so what ran
  is on chain. It then hands the request and the algorithm to the node (``POST /compute``).
* The node (:class:`C2DNode`) checks everything against the chain — the job is its own, still
  open and ``DIRECT``; the request and algorithm are the job's; the order is the consumer's, of
  this dataset's compute service, valid; the algorithm is allowed; the ε fits what is left of the
  budget — and declines the job (a full refund) when something is wrong. It decrypts the data
  into a folder that the sandbox (:mod:`agora.workloads.sandbox`: bubblewrap, no network, read-only data,
  one scratch folder, limits) sees read-only, runs the algorithm, checks the output against the
  dataset's :class:`OutputPolicy`, commits and reveals the result's sha-256 on chain (paid like a
  ``NONE`` job), records the ε spent on chain, and serves the result only to the consumer
  (``GET /compute/{job}/result`` with an EIP-712 signed :class:`~agora.data.messages.ResultRequest`).
  A failed algorithm (crash, limit, policy) is declined: refunded, nothing leaves, no ε spent. The
  node's state is durable: a job accepted before a crash is run again on restart.

**The algorithm's contract.** A Python file run with the project's interpreter (numpy,
scikit-learn and onnxruntime importable): the data file is at ``$AGORA_DATA`` (read-only), the
parameters (JSON, with ``epsilon``) at ``$AGORA_PARAMS``, the working directory is ``/scratch``;
it writes its result to ``/scratch/out/`` under a name the policy allows (``result.json``,
``result.npz``, ``result.onnx`` by default).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eth_utils.address import to_checksum_address

from agora.chain.evidence import Receipt, ReceiptBook, receipt_domain, sign_receipt
from agora.errors import AgoraError, ConfigError
from agora.storage import cid_digest, cid_for

__all__ = [
    "C2D_KIND",
    "C2D_SERVICE",
    "C2DError",
    "C2DNode",
    "C2DRequest",
    "ChainCompute",
    "ComputeOps",
    "JobFacts",
    "OutputPolicy",
    "encode_algorithm",
    "result_digest",
]

#: The workload kind id of compute-to-data in the compute market (a holder's node registers as a
#: provider of this kind; no workload plug-in uses it).
C2D_KIND = 15
#: The service id of a dataset's compute-to-data service (0 is the download).
C2D_SERVICE = 1
#: ``ComputeMarket`` policy and job states this module reads.
POLICY_DIRECT = 3
JOB_ASSIGNED = 1

log = logging.getLogger("agora.data.c2d")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS c2d_jobs (
    job_id TEXT PRIMARY KEY, dataset_id TEXT NOT NULL, consumer TEXT NOT NULL, state TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '', result_name TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL DEFAULT '', request BLOB NOT NULL, algorithm BLOB NOT NULL, updated INTEGER NOT NULL
);
"""


class C2DError(AgoraError):
    """A compute-to-data request the node refuses: an HTTP status, a stable code, one line."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def result_digest(data: bytes) -> bytes:
    """What goes on chain for a result: its sha-256 (the job's revealed digest)."""
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class OutputPolicy:
    """What may leave the holder's node: which result files, how large, and for JSON aggregates
    the fewest rows any reported ``count`` may cover (k-anonymity of the aggregates)."""

    files: tuple[str, ...] = ("result.json", "result.npz", "result.onnx")
    max_bytes: int = 1 << 20
    min_rows: int = 0

    def to_bytes(self) -> bytes:
        """The policy as canonical JSON (what its CID, recorded on chain, is of)."""
        doc = {"files": list(self.files), "max_bytes": self.max_bytes, "min_rows": self.min_rows, "v": 1}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> OutputPolicy:
        """The policy from its JSON form; ConfigError when malformed."""
        try:
            files = tuple(str(f) for f in doc.get("files", cls.files))
            policy = cls(files, int(doc.get("max_bytes", cls.max_bytes)), int(doc.get("min_rows", 0)))
        except (TypeError, ValueError):
            raise ConfigError("an output policy is {files: [names], max_bytes: int, min_rows: int}") from None
        if not policy.files or any("/" in f or f.startswith(".") for f in policy.files) or policy.max_bytes <= 0:
            raise ConfigError("an output policy names at least one plain file name and a positive max_bytes")
        return policy

    def check(self, out_dir: Path) -> tuple[str, bytes]:
        """The one result file the algorithm wrote, if the policy lets it leave; C2DError otherwise."""
        found = sorted(p for p in out_dir.iterdir()) if out_dir.is_dir() else []
        if len(found) != 1 or not found[0].is_file() or found[0].is_symlink():
            names = ", ".join(p.name for p in found) or "nothing"
            raise C2DError(422, "output_refused", f"the algorithm must write exactly one result file, not {names}")
        path = found[0]
        if path.name not in self.files:
            raise C2DError(422, "output_refused", f"{path.name} may not leave this dataset's node "
                                                  f"(allowed: {', '.join(self.files)})")
        size = path.stat().st_size
        if size > self.max_bytes:
            raise C2DError(422, "output_refused",
                           f"the result is {size:,} bytes, above the policy's {self.max_bytes:,}")
        data = path.read_bytes()
        if self.min_rows and path.suffix == ".json":
            _check_counts(data, self.min_rows)
        return path.name, data


def _check_counts(data: bytes, k: int) -> None:
    """Every ``count`` in a JSON aggregate must be at least ``k`` (or absent)."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise C2DError(422, "output_refused", "result.json is not JSON") from None
    stack: list[Any] = [doc]
    seen_count = False
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "count":
                    seen_count = True
                    if not isinstance(value, int | float) or value < k:
                        raise C2DError(422, "output_refused", f"an aggregate covers {value!r} rows, fewer than {k}")
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    if not seen_count:
        raise C2DError(422, "output_refused", f"an aggregate must say how many rows it covers (count >= {k})")


@dataclass(frozen=True)
class C2DRequest:
    """What a consumer asks the holder's node to run: its CID's digest is the job's ``input``."""

    dataset: int
    order_id: int
    consumer: str
    algorithm: str          # the algorithm's CIDv1 (its digest is the job's ``model``)
    params: dict[str, Any] = field(default_factory=dict)
    epsilon: float = 0.0    # the privacy budget the algorithm spends (0: it releases no DP result)

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces)."""
        doc = {"v": 1, "dataset": self.dataset, "order": f"0x{self.order_id:064x}",
               "consumer": to_checksum_address(self.consumer), "algorithm": self.algorithm,
               "params": self.params, "epsilon": self.epsilon}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def cid(self) -> str:
        """The request's CIDv1."""
        return cid_for(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> C2DRequest:
        """The request from :meth:`to_bytes`' form; C2DError (400) when malformed."""
        try:
            doc = json.loads(data)
            req = cls(int(doc["dataset"]), int(str(doc["order"]), 16), to_checksum_address(str(doc["consumer"])),
                      str(doc["algorithm"]), dict(doc.get("params") or {}), float(doc.get("epsilon", 0.0)))
        except (ValueError, KeyError, TypeError):
            raise C2DError(400, "bad_request", "not a compute-to-data request") from None
        if req.epsilon < 0 or req.to_bytes() != data:
            raise C2DError(400, "bad_request", "the request is not in its canonical form")
        return req


@dataclass(frozen=True)
class JobFacts:
    """What the node needs to know of a ``ComputeMarket`` job."""

    requester: str
    provider: str
    state: int
    policy: int
    kind: int
    model: bytes
    input: bytes


class ComputeOps(Protocol):
    """The node's questions and transactions to the chain (real: :class:`agora.data.c2d_chain.ChainCompute`)."""

    def job(self, job_id: int, tx_hash: str) -> JobFacts:
        """The job's facts, its ``model``/``input`` from its ``JobPosted`` event in ``tx_hash``."""
        ...

    def order_valid(self, order_id: int, consumer: str) -> bool:
        """Whether the order is the consumer's and has not expired."""
        ...

    def order_dataset(self, order_id: int) -> int:
        """The dataset the order is for."""
        ...

    def algorithm_allowed(self, dataset_id: int, algorithm_digest: bytes) -> bool:
        """Whether the dataset's owner allowed the algorithm."""
        ...

    def privacy(self, dataset_id: int) -> tuple[int, int]:
        """The dataset's budget and what is spent on chain, in micro-epsilon."""
        ...

    def spend_privacy(self, dataset_id: int, job_id: int, micro: int) -> None:
        """Record the job's spend on chain."""
        ...

    def deliver(self, job_id: int, digest: bytes) -> None:
        """Commit and reveal the result digest (the job is paid)."""
        ...

    def decline(self, job_id: int) -> None:
        """Hand the job back: the consumer is refunded."""
        ...

    def attest(self, job_id: int, algorithm_hash: bytes, dataset_id: int, digest: bytes) -> None:
        """Sign the delivered result's receipt and anchor it (nothing if the node keeps none)."""
        ...


#: Runs an algorithm: ``runner(source, ro_binds, scratch, env)`` -> an object with ``returncode``
#: and ``killed`` (:class:`agora.workloads.sandbox.SandboxResult`).
Runner = Callable[[Path, Mapping[Path, str], Path, Mapping[str, str]], Any]


class C2DNode:
    """The compute-to-data side of an access node: checks, runs in the sandbox, delivers.

    ``node`` is the :class:`~agora.data.access.AccessNode` holding the encrypted files (its state
    database keeps the jobs), ``ops`` the chain, ``ledger`` the holder's
    :class:`~agora.data.privacy.PrivacyLedger` (None: no job may spend ε), ``policies`` the output
    policy per dataset (default :class:`OutputPolicy`), ``limits`` the sandbox's
    :class:`agora.workloads.sandbox.Limits`. ``runner`` runs an algorithm (default: :func:`agora.workloads.sandbox.run_python`).
    """  # noqa: E501

    def __init__(self, node: Any, ops: ComputeOps, *, ledger: Any = None,
                 policies: Mapping[int, OutputPolicy] | None = None, limits: Any = None,
                 runner: Runner | None = None, inline: bool = False) -> None:
        self.node = node
        self.ops = ops
        self.ledger = ledger
        self.policies = dict(policies or {})
        self.limits = limits
        self.runner = runner
        self.inline = inline
        self.jobs_dir = Path(node.home) / "c2d"
        self.jobs_dir.mkdir(mode=0o700, exist_ok=True)
        node.db.executescript(_SCHEMA)
        self._mu = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- the consumer's hand-over --------------------------------------------------------------
    def accept(self, job_id: int, tx_hash: str, request_bytes: bytes, algorithm: bytes) -> dict[str, Any]:
        """Check a job handed over by its consumer against the chain and queue it (idempotent:
        the same job again answers its status). C2DError before anything is recorded when the
        job is not this node's or the request and algorithm are not the job's; a job whose order,
        algorithm or budget is wrong is declined on chain (refunded) and recorded as failed."""
        known = self.status(job_id, missing_ok=True)
        if known is not None:
            return known
        request = C2DRequest.from_bytes(request_bytes)
        try:
            facts = self.ops.job(job_id, tx_hash)
        except ConfigError as exc:
            raise C2DError(404, "unknown_job", str(exc)) from None
        me = self.node.signer.address
        if facts.provider.lower() != me.lower() or facts.policy != POLICY_DIRECT or facts.kind != C2D_KIND:
            raise C2DError(403, "not_my_job", f"job {job_id} is not a compute-to-data job of this node ({me})")
        if facts.state != JOB_ASSIGNED:
            raise C2DError(409, "job_closed", f"job {job_id} is no longer waiting for its result")
        if facts.model != cid_digest(cid_for(algorithm)) or facts.input != cid_digest(request.cid()):
            raise C2DError(403, "not_the_jobs_request", f"the request or algorithm is not job {job_id}'s")
        if request.consumer.lower() != facts.requester.lower():
            raise C2DError(403, "not_the_jobs_request", f"the request names {request.consumer}, the job "
                                                        f"{facts.requester}")
        if request.algorithm != cid_for(algorithm):
            raise C2DError(403, "not_the_jobs_request", "the request names another algorithm")
        with self._mu:
            self.node.db.execute(
                "INSERT OR IGNORE INTO c2d_jobs (job_id, dataset_id, consumer, state, request, algorithm, updated) "
                "VALUES (?, ?, ?, 'accepted', ?, ?, ?)",
                (str(job_id), str(request.dataset), request.consumer, request_bytes, algorithm, int(time.time())),
            )
        refusal = self._refusal(job_id, request, algorithm)
        if refusal is not None:
            self._fail(job_id, refusal, decline=True)
        status = self.status(job_id)
        assert status is not None
        return status

    def _refusal(self, job_id: int, request: C2DRequest, algorithm: bytes) -> C2DError | None:
        """Why the job may not run here (the consumer gets a refund), or None."""
        from agora.data.registry import order_key

        if self.node.get_dataset(request.dataset) is None:
            return C2DError(404, "unknown_dataset", f"dataset {request.dataset} is not held here")
        try:
            valid = self.ops.order_valid(request.order_id, request.consumer)
            ordered = self.ops.order_dataset(request.order_id) if valid else None
            allowed = self.ops.algorithm_allowed(request.dataset, cid_digest(request.algorithm))
            budget, spent = self.ops.privacy(request.dataset) if request.epsilon > 0 else (0, 0)
            left = budget - spent
        except Exception as exc:  # the chain cannot be asked: neither run nor decline now
            raise C2DError(503, "chain_unavailable", f"cannot check the job on chain now: {exc}") from None
        if not valid or ordered != request.dataset:
            return C2DError(403, "order_invalid", f"order 0x{request.order_id:064x} is not a valid order of "
                                                  f"{request.consumer} for dataset {request.dataset}")
        if request.order_id >> 32 != order_key(request.dataset, C2D_SERVICE, request.consumer):
            return C2DError(403, "order_wrong_service", "the order is not for the dataset's compute service")
        if not allowed:
            return C2DError(403, "algorithm_not_allowed", f"algorithm {request.algorithm} is not allowed on "
                                                          f"dataset {request.dataset} (deny by default)")
        if request.epsilon > 0:
            from agora.data.services import epsilon_to_micro

            if self.ledger is None:
                return C2DError(403, "no_privacy_budget", f"dataset {request.dataset} has no privacy budget here")
            if epsilon_to_micro(request.epsilon) > left:
                return C2DError(403, "budget_exceeded", f"epsilon {request.epsilon} is more than the "
                                                        f"{left / 1e6:g} left of dataset {request.dataset}'s budget")
        return None

    # -- running ----------------------------------------------------------------------------------
    def start(self, job_id: int) -> None:
        """Run an accepted job in a background thread (at once, in this thread, when ``inline``:
        the embedded chain, which one thread at a time may use)."""
        if self.inline:
            self.run_job(job_id)
            return
        t = threading.Thread(target=self.run_job, args=(job_id,), name=f"c2d-job-{job_id}", daemon=True)
        self._threads.append(t)
        t.start()

    def recover(self) -> list[int]:
        """Jobs accepted or running when the node stopped: run them again (in the background)."""
        rows = self.node.db.execute("SELECT job_id FROM c2d_jobs WHERE state IN ('accepted', 'running')").fetchall()
        ids = [int(r[0]) for r in rows]
        for job_id in ids:
            self.start(job_id)
        return ids

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the background jobs (tests, shutdown)."""
        for t in list(self._threads):
            t.join(timeout)

    def run_job(self, job_id: int) -> dict[str, Any]:
        """Run an accepted job: reserve ε, decrypt the data for the sandbox, run the algorithm,
        check the output, deliver its digest on chain and record the spend; decline on failure."""
        row = self.node.db.execute("SELECT state, request, algorithm FROM c2d_jobs WHERE job_id = ?",
                                   (str(job_id),)).fetchone()
        if row is None or row[0] not in ("accepted", "running"):
            status = self.status(job_id, missing_ok=True)
            return status or {}
        request = C2DRequest.from_bytes(bytes(row[1]))
        algorithm = bytes(row[2])
        self._set(job_id, state="running")
        reservation = None
        work = Path(tempfile.mkdtemp(prefix=f"job-{job_id}-", dir=self.jobs_dir))
        try:
            if request.epsilon > 0:
                self._sync_budget(request.dataset)
                reservation = self.ledger.reserve(request.dataset, str(job_id), request.epsilon)
            name, data = self._run(job_id, request, algorithm, work)
            digest = result_digest(data)
            result_path = self.jobs_dir / f"{job_id}.result"
            result_path.write_bytes(data)
            result_path.chmod(0o600)
            if request.epsilon > 0:
                from agora.data.services import epsilon_to_micro

                self.ops.spend_privacy(request.dataset, job_id, epsilon_to_micro(request.epsilon))
            self.ops.deliver(job_id, digest)
            try:  # the result is delivered and paid: a receipt that fails to anchor is retried, not fatal
                self.ops.attest(job_id, cid_digest(request.algorithm), request.dataset, digest)
            except Exception as exc:
                log.warning("the receipt of compute-to-data job %s is not anchored yet: %s", job_id, exc)
            if reservation is not None:
                reservation.commit()
            self._set(job_id, state="done", result_name=name, digest="0x" + digest.hex())
        except C2DError as exc:
            if reservation is not None:
                reservation.release()
            self._fail(job_id, exc, decline=True)
        except Exception as exc:  # the sandbox or the chain: the job must not stay open
            log.warning("compute-to-data job %s failed: %s", job_id, exc)
            if reservation is not None and reservation.state != "committed":
                reservation.release()
            self._fail(job_id, C2DError(500, "node_error", f"the node could not finish the job: {exc}"), decline=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        status = self.status(job_id)
        assert status is not None
        return status

    def _sync_budget(self, dataset_id: int) -> None:
        """The holder's ledger follows the budget on chain (its owner sets it there)."""
        budget, _ = self.ops.privacy(dataset_id)
        try:
            current = self.ledger.get_budget(dataset_id).epsilon_micro
        except ConfigError:
            current = None
        if current != budget and budget > 0:
            self.ledger.set_budget(dataset_id, budget / 1e6)

    def _run(self, job_id: int, request: C2DRequest, algorithm: bytes, work: Path) -> tuple[str, bytes]:
        """Decrypt the data into ``work`` (read-only for the sandbox), run, check the output."""
        stored = self.node.get_dataset(request.dataset)
        if stored is None:
            raise C2DError(404, "unknown_dataset", f"dataset {request.dataset} is not held here")
        self.node.validate_intact(stored)
        data_dir, scratch, job_dir = work / "data", work / "scratch", work / "job"
        for d in (data_dir, scratch, job_dir):
            d.mkdir(mode=0o700)       # the sandbox's uid maps onto the node's: nobody else needs access
        data_file = data_dir / "data"
        with open(data_file, "wb") as sink:
            for block in self.node.stream(stored, 0, stored.size - 1) if stored.size else ():
                sink.write(block)
        data_file.chmod(0o600)
        (job_dir / "params.json").write_text(json.dumps({**request.params, "epsilon": request.epsilon}))
        source = job_dir / "algorithm.py"
        source.write_bytes(algorithm)
        (scratch / "out").mkdir(mode=0o700)
        env = {"AGORA_DATA": "/data/data", "AGORA_PARAMS": "/job/params.json", "AGORA_OUT": "/scratch/out"}
        binds = {data_dir: "/data", job_dir: "/job"}
        result = self._sandbox(source, binds, scratch, env)
        if getattr(result, "killed", None):
            raise C2DError(422, "algorithm_killed", f"the algorithm was stopped: {result.killed} limit")
        if getattr(result, "returncode", 1) != 0:
            raise C2DError(422, "algorithm_failed", f"the algorithm exited with status {result.returncode}")
        policy = self.policies.get(request.dataset, OutputPolicy())
        return policy.check(scratch / "out")

    def _sandbox(self, source: Path, binds: Mapping[Path, str], scratch: Path, env: Mapping[str, str]) -> Any:
        if self.runner is not None:
            return self.runner(source, binds, scratch, env)
        from agora.workloads.sandbox import Limits, SandboxUnavailable, run_python

        try:
            return run_python(source, ro_binds=binds, scratch=scratch, limits=self.limits or Limits(), env=env)
        except SandboxUnavailable as exc:
            raise C2DError(503, "no_sandbox", str(exc)) from None

    # -- state -------------------------------------------------------------------------------------
    def _set(self, job_id: int, **fields: str) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._mu:
            self.node.db.execute(f"UPDATE c2d_jobs SET {cols}, updated = ? WHERE job_id = ?",  # noqa: S608
                                 (*fields.values(), int(time.time()), str(job_id)))

    def _fail(self, job_id: int, error: C2DError, *, decline: bool) -> None:
        if decline:
            try:
                self.ops.decline(job_id)
            except Exception as exc:  # closed already, or the chain is down: `timeout` refunds it later
                log.warning("could not decline job %s: %s", job_id, exc)
        self._set(job_id, state="failed", code=error.code, message=str(error))

    def status(self, job_id: int, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """The job's state here: ``accepted``, ``running``, ``done`` (with the result's digest) or
        ``failed`` (with a code and one line; never the algorithm's output)."""
        row = self.node.db.execute(
            "SELECT dataset_id, consumer, state, code, message, result_name, digest FROM c2d_jobs WHERE job_id = ?",
            (str(job_id),),
        ).fetchone()
        if row is None:
            if missing_ok:
                return None
            raise C2DError(404, "unknown_job", f"job {job_id} was not handed to this node")
        ds, consumer, state, code, message, name, digest = row
        out: dict[str, Any] = {"jobId": str(job_id), "datasetId": ds, "consumer": consumer, "state": state}
        if state == "failed":
            out |= {"code": code, "error": message}
        if state == "done":
            out |= {"resultName": name, "resultDigest": digest}
        return out

    def result(self, job_id: int, consumer: str) -> tuple[str, bytes]:
        """The result's file name and bytes, for the job's consumer only (the caller checked the
        signed request); C2DError otherwise."""
        status = self.status(job_id)
        assert status is not None
        if status["consumer"].lower() != consumer.lower():
            raise C2DError(403, "not_your_job", f"job {job_id} is not {consumer}'s")
        if status["state"] != "done":
            raise C2DError(409, "no_result", f"job {job_id} has no result ({status['state']})")
        return status["resultName"], (self.jobs_dir / f"{job_id}.result").read_bytes()


def encode_algorithm(data: bytes) -> str:
    """An algorithm's bytes as they travel in ``POST /compute`` (base64)."""
    return base64.b64encode(data).decode()


class ChainCompute:
    """:class:`ComputeOps` on chain: the compute market (``market``), the ``DataRegistry`` and
    ``DataServices``, through the deployment (no import of the compute layer), as the node's
    account ``signer``. On the embedded chain every call holds ``lock``."""

    def __init__(self, dep: Any, signer: Any, *, lock: Any = None, receipts: Path | None = None) -> None:
        from contextlib import nullcontext

        from agora.data.registry import DataRegistry
        from agora.data.services import DataServices

        self.dep = dep
        self.chain = dep.chain
        self.signer = signer
        self.market = dep.contract("market")
        self.registry = DataRegistry(dep)
        self.services = DataServices(dep)
        self._lock = lock if lock is not None else (threading.RLock() if self.chain.embedded else nullcontext())
        #: the results' receipts (house receipts of kind ``compute-item``: a C2D job is a market job),
        #: kept in ``receipts`` and anchored as each result is delivered
        self.book: ReceiptBook | None = None
        if receipts is not None and "anchor" in dep.addresses:
            self.book = ReceiptBook(receipts, dep.contract("anchor"), signer.address)
        self.receipt_domain = receipt_domain(self.chain.chain_id, self.market.address)

    def job(self, job_id: int, tx_hash: str) -> JobFacts:
        """The job's view and its ``JobPosted`` event (from the receipt of ``tx_hash``)."""
        from agora.errors import Reverted

        with self._lock:
            try:
                view = self.market.job(job_id)
            except Reverted:
                raise ConfigError(f"there is no job {job_id}") from None
            (receipt,) = self.chain.fetch_receipts([tx_hash])
            posted = [e for e in self.market.events_in(receipt, "JobPosted") if int(e.args["job_id"]) == job_id] \
                if receipt is not None else []
        if not posted:
            raise ConfigError(f"transaction {tx_hash} did not post job {job_id}")
        args = posted[0].args
        providers = list(view[10])
        return JobFacts(
            requester=to_checksum_address(view[0]), provider=to_checksum_address(providers[0]) if providers else "",
            state=int(view[5]), policy=int(view[3]), kind=int(view[2]), model=bytes(args["model"]),
            input=bytes(args["input"]),
        )

    def order_valid(self, order_id: int, consumer: str) -> bool:
        """One ``eth_call``."""
        with self._lock:
            return self.registry.order_valid(order_id, consumer)

    def order_dataset(self, order_id: int) -> int:
        """One ``eth_call``."""
        with self._lock:
            return self.registry.order_info(order_id).dataset

    def algorithm_allowed(self, dataset_id: int, algorithm_digest: bytes) -> bool:
        """One ``eth_call``."""
        with self._lock:
            return self.services.algorithm_allowed(dataset_id, algorithm_digest)

    def privacy(self, dataset_id: int) -> tuple[int, int]:
        """One ``eth_call``."""
        with self._lock:
            return self.services.privacy(dataset_id)

    def spend_privacy(self, dataset_id: int, job_id: int, micro: int) -> None:
        """A transaction (the node is the dataset's compute node)."""
        with self._lock:
            if self.services.privacy_spent(dataset_id, job_id) == 0:
                self.services.spend_privacy(dataset_id, job_id, micro, self.signer)

    def deliver(self, job_id: int, digest: bytes) -> None:
        """Commit, then reveal in a later block (the market's rule)."""
        import secrets

        from eth_abi import encode
        from eth_utils import keccak

        salt = secrets.token_bytes(32)
        commitment = keccak(encode(["uint256", "address", "bytes32", "bytes32"],
                                   [job_id, self.signer.address, digest, salt]))
        with self._lock:
            self.market.commit(job_id, commitment, sender=self.signer)
        with self._lock:
            start = self.chain.block_number()
        deadline = time.monotonic() + 600
        while True:     # the reveal must be in a later block than the commit
            with self._lock:
                if self.chain.block_number() > start:
                    break
                if self.chain.is_devnet:        # a devnet mines on demand: an empty block
                    self.chain.mine(1)
                    continue
            if time.monotonic() > deadline:
                raise AgoraError(f"no new block within 600 s after committing job {job_id}")
            time.sleep(1.0)
        with self._lock:
            self.market.reveal(job_id, digest, digest, salt, sender=self.signer)

    def decline(self, job_id: int) -> None:
        """A transaction: the consumer is refunded in full."""
        with self._lock:
            self.market.decline(job_id, sender=self.signer)

    def attest(self, job_id: int, algorithm_hash: bytes, dataset_id: int, digest: bytes) -> None:
        """The result's receipt: the algorithm as the model, the dataset's content hash as the input,
        the delivered digest as the output, the consumer as payer; anchored at once (C2D jobs are
        few and heavy: one anchor each, its root over any receipt still waiting)."""
        if self.book is None:
            return
        with self._lock:
            view = self.market.job(job_id)
            input_hash = self.registry.fetch(dataset_id).content_hash
            now = self.chain.timestamp()
        receipt = Receipt("compute-item", job_id, 0, algorithm_hash, input_hash, digest, self.signer.address,
                          to_checksum_address(view[0]), int(view[1]), job_id, now)
        self.book.add(sign_receipt(self.signer, self.receipt_domain, receipt), self.receipt_domain)
        with self._lock:
            self.book.anchor_pending(self.signer)
