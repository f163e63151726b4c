"""``client.data.compute``: compute-to-data from both sides — the holder allows algorithms, names
its node and sets a privacy budget; the consumer orders the compute service, posts a ``DIRECT``
job to the holder's node, hands it the algorithm and fetches the result, checked against the
digest on chain. See :mod:`agora.data.c2d` for the protocol.

    >>> c2d = client.data.compute
    >>> c2d.allow(dataset_id, "mean.py")                      # as the owner
    >>> job = c2d.submit(dataset_id, "mean.py", node_url=url, params={"column": 2})
    >>> c2d.wait(job.job_id, node_url=url)
    >>> c2d.result(job.job_id, "mean.json", node_url=url)
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_utils.address import to_checksum_address

from agora.data.c2d import C2D_KIND, C2D_SERVICE, POLICY_DIRECT, C2DRequest, OutputPolicy, result_digest
from agora.data.services import DataServices, epsilon_to_micro, fl_reference, micro_to_epsilon
from agora.errors import AgoraError, ConfigError, Reverted
from agora.storage import cid_digest, cid_for

if TYPE_CHECKING:
    from agora.data.client import DatasetsClient

__all__ = ["C2DJob", "ComputeToDataClient", "JOB_STATES"]

#: ``ComputeMarket`` job states by number.
JOB_STATES = ("none", "assigned", "committed", "revealing", "audit-commit", "audit-reveal", "tie-commit",
              "tie-reveal", "settled", "refunded")


@dataclass(frozen=True)
class C2DJob:
    """A compute-to-data job posted: its market job id, the order it used, what it runs."""

    job_id: int
    dataset_id: int
    order_id: int
    algorithm_cid: str
    request_cid: str
    node: str
    tx: str
    status: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The job as JSON."""
        return {"job_id": self.job_id, "dataset_id": self.dataset_id, "order_id": f"0x{self.order_id:064x}",
                "algorithm": self.algorithm_cid, "request": self.request_cid, "node": self.node, "tx": self.tx,
                "node_status": self.status}


def _read(source: Path | str | bytes) -> bytes:
    from agora.data.client import _read_bytes

    return source if isinstance(source, bytes) else _read_bytes(source)


class ComputeToDataClient:
    """Compute-to-data through one :class:`~agora.data.client.DatasetsClient` (its account, storage)."""

    def __init__(self, data: DatasetsClient) -> None:
        self.data = data
        self.dep = data.registry.dep
        self.services = DataServices(self.dep)

    # -- the holder -----------------------------------------------------------------------------
    def allow(self, dataset_id: int, algorithm: Path | str | bytes, *, allowed: bool = True) -> str:
        """Allow (or deny again) an algorithm on the dataset (its owner or manager); the algorithm is
        stored by CID. Return its CID."""
        body = _read(algorithm)
        cid = self.data.storage.put(body)
        self.data.registry.fetch(dataset_id)
        self.services.set_algorithm(dataset_id, cid, allowed, self.data._require_signer())
        return cid

    def enable(self, dataset_id: int, *, stake: int, price: int, policy: OutputPolicy | None = None,
               budget: float | None = None) -> dict[str, Any]:
        """Make this account the dataset's compute node: a provider of the compute market's
        compute-to-data kind (registered with ``stake`` at ``price`` per job if it is not one yet),
        named on chain, with the output policy (stored by CID) and a privacy budget (epsilon)."""
        signer = self.data._require_signer()
        self.data.registry.fetch(dataset_id)
        reg = self.dep.contract("registry")
        view = reg.provider(signer.address)
        registered, kinds = bool(view[7]), int(view[5])
        if not registered:
            token = self.dep.token
            if token.allowance(signer.address, reg.address) < stake:
                token.approve(reg.address, stake, sender=signer)
            reg.register(1 << C2D_KIND, price, stake, bytes(32), sender=signer)
        elif not kinds >> C2D_KIND & 1:
            reg.update_provider(kinds | 1 << C2D_KIND, int(view[3]), bytes(view[8]), sender=signer)
        if self.services.compute_node(dataset_id) != signer.address:
            self.services.set_compute_node(dataset_id, signer.address, signer)
        policy = policy or OutputPolicy()
        policy_cid = self.data.storage.put(policy.to_bytes())
        if self.services.output_policy(dataset_id) != cid_digest(policy_cid):
            self.services.set_output_policy(dataset_id, policy_cid, signer)
        if budget is not None:
            self.services.set_privacy_budget(dataset_id, budget, signer)
        return self.budget(dataset_id) | {"node": signer.address, "output_policy": policy_cid}

    def budget(self, dataset_id: int) -> dict[str, Any]:
        """The dataset's privacy budget on chain: epsilon total, spent and left."""
        total, spent = self.services.privacy(dataset_id)
        return {"dataset_id": dataset_id, "epsilon_budget": micro_to_epsilon(total),
                "epsilon_spent": micro_to_epsilon(spent), "epsilon_left": micro_to_epsilon(total - spent)}

    def spend_for_run(self, dataset_id: int, run_id: int, epsilon: float) -> dict[str, Any]:
        """The holder's node records the ε a federated run spent of its dataset's budget (once per
        run; never past the budget) and returns the budget as :meth:`budget` does."""
        if epsilon <= 0:
            raise ConfigError("the epsilon spent is above 0")
        self.services.spend_privacy(dataset_id, fl_reference(run_id), epsilon_to_micro(epsilon),
                                    self.data._require_signer())
        return self.budget(dataset_id)

    # -- the consumer ----------------------------------------------------------------------------
    def submit(self, dataset_id: int, algorithm: Path | str | bytes, *, node_url: str,
               params: dict[str, Any] | None = None, epsilon: float = 0.0, duration: int = 3600,
               max_price: int | None = None) -> C2DJob:
        """Order the dataset's compute service, post a ``DIRECT`` job naming its node (the price
        escrowed), and hand the node the request and the algorithm. Refused before paying when the
        algorithm is not allowed, the dataset has no compute node or the budget is too small."""
        signer = self.data._require_signer()
        body = _read(algorithm)
        algo_cid = cid_for(body)
        if not self.services.algorithm_allowed(dataset_id, algo_cid):
            raise ConfigError(f"algorithm {algo_cid} is not allowed on dataset {dataset_id} (deny by default)",
                              hint="its owner allows algorithms: `agora data algorithm allow`")
        node = self.services.compute_node(dataset_id)
        if node is None:
            raise ConfigError(f"dataset {dataset_id} has no compute node", hint="its owner runs "
                              "`agora data compute enable`")
        if epsilon > 0:
            total, spent = self.services.privacy(dataset_id)
            if epsilon_to_micro(epsilon) > total - spent:
                raise ConfigError(f"epsilon {epsilon} is more than the {micro_to_epsilon(total - spent):g} left of "
                                  f"dataset {dataset_id}'s privacy budget")
        reg = self.dep.contract("registry")
        index, weight = reg.exclusion(C2D_KIND, node)
        price = int(reg.provider(node)[3])
        if index == 0 or weight == 0:
            raise ConfigError(f"dataset {dataset_id}'s node {node} does not serve compute-to-data now")
        if max_price is not None and price > max_price:
            raise ConfigError(f"the node asks {price} per job, above your limit {max_price}")
        order = self.data.order(dataset_id, node_url=node_url, service_id=C2D_SERVICE)
        request = C2DRequest(dataset_id, order.order_id, signer.address, algo_cid, dict(params or {}), epsilon)
        self.data.storage.put(body)
        self.data.storage.put(request.to_bytes())
        market = self.dep.contract("market")
        cost = price + int(market.min_fee())
        token = self.dep.token
        if token.allowance(signer.address, market.address) < cost:
            token.approve(market.address, cost, sender=signer)
        spec = (C2D_KIND, cid_digest(algo_cid), cid_digest(request.cid()), 1, 1, price, POLICY_DIRECT, int(index),
                duration)
        receipt = market.post(spec, sender=signer)
        (posted,) = market.events_in(receipt, "JobPosted")
        job_id = int(posted.args["job_id"])
        status = self._post(node_url, {"jobId": str(job_id), "tx": receipt.tx_hash,
                                       "request": base64.b64encode(request.to_bytes()).decode(),
                                       "algorithm": base64.b64encode(body).decode()})
        return C2DJob(job_id, dataset_id, order.order_id, algo_cid, request.cid(), node, receipt.tx_hash, status)

    def status(self, job_id: int, *, node_url: str | None = None) -> dict[str, Any]:
        """The job on chain (state, escrow, result digest) and, with ``node_url``, at the node."""
        market = self.dep.contract("market")
        try:
            view = market.job(job_id)
        except Reverted:
            raise ConfigError(f"there is no job {job_id} on chain {self.dep.chain.chain_id}") from None
        state = int(view[5])
        out: dict[str, Any] = {
            "job_id": job_id, "state": JOB_STATES[state] if state < len(JOB_STATES) else str(state),
            "requester": to_checksum_address(view[0]), "escrow_wei": int(view[9]),
            "result_digest": "0x" + bytes(view[11]).hex() if any(bytes(view[11])) else None,
        }
        if node_url is not None:
            out["node"] = self._get(node_url, f"/compute/{job_id}").json()
        return out

    def reclaim(self, job_id: int) -> dict[str, Any]:
        """Refund a job the node left hanging: past its commit window (or, committed, past its
        deadline), ``ComputeMarket.timeout`` refunds the escrow to the consumer and penalises the
        silent node. Anyone may call it; the refund goes to the job's consumer."""
        market = self.dep.contract("market")
        try:
            market.timeout(job_id, sender=self.data._require_signer())
        except Reverted as exc:
            raise ConfigError(f"job {job_id} cannot be refunded now: {exc}") from None
        return self.status(job_id)

    def wait(self, job_id: int, *, node_url: str, timeout_s: float = 300.0, poll_s: float = 0.2) -> dict[str, Any]:
        """Poll until the node has finished the job (done or failed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(job_id, node_url=node_url)
            if status["node"]["state"] in ("done", "failed"):
                return status
            if time.monotonic() > deadline:
                raise AgoraError(f"job {job_id} did not finish within {timeout_s:g} s (node: "
                                 f"{status['node']['state']})")
            time.sleep(poll_s)

    def result(self, job_id: int, out: Path | str, *, node_url: str) -> Path:
        """Fetch the job's result from the node (a signed request: only the job's consumer may)
        and check it against the digest revealed on chain; write it to ``out``."""
        from agora.data.messages import ResultRequest, access_domain, sign_result_request

        signer = self.data._require_signer()
        chain_view = self.status(job_id)
        if chain_view["result_digest"] is None:
            raise ConfigError(f"job {job_id} has no result on chain ({chain_view['state']})")
        domain = access_domain(self.dep.chain.chain_id, self.data.registry.address)
        req = sign_result_request(signer, domain, ResultRequest(job_id, signer.address, secrets.randbits(256),
                                                                int(time.time()) + 300))
        from agora.data.access import RESULT_HEADER, encode_request_header

        header = encode_request_header(req)
        resp = self._get(node_url, f"/compute/{job_id}/result", headers={RESULT_HEADER: header})
        data = resp.content
        if "0x" + result_digest(data).hex() != chain_view["result_digest"]:
            raise ConfigError(f"the node's result for job {job_id} does not match the digest on chain; refused")
        target = Path(out)
        target.write_bytes(data)
        return target

    # -- http -------------------------------------------------------------------------------------
    def _client(self) -> tuple[httpx.Client, bool]:
        if self.data.http is not None:
            return self.data.http, False
        return httpx.Client(timeout=60), True

    def _request(self, method: str, node_url: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        """One request to the node; one clear line when it cannot be reached or refuses."""
        from agora.data.client import _reason

        http, own = self._client()
        try:
            resp = http.request(method, node_url.rstrip("/") + path, **kwargs)
        except httpx.HTTPError as exc:
            raise AgoraError(f"cannot reach the access node at {node_url}: {exc}") from None
        finally:
            if own:
                http.close()
        if resp.status_code >= 400:
            raise ConfigError(f"the access node refused {what}: {_reason(resp)}")
        return resp

    def _post(self, node_url: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self._request("POST", node_url, "/compute", f"job {body['jobId']}", json=body)
        result: dict[str, Any] = resp.json()
        return result

    def _get(self, node_url: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self._request("GET", node_url, path, path, headers=headers or {})
