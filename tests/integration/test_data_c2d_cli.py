"""Compute-to-data from the command line on anvil, with the access node as a real process
(`agora data serve --compute`): the holder enables its node and allows an algorithm, a consumer
submits a job, waits, reads its status and fetches its result; the budget is spent on chain; a
disallowed algorithm is refused with one line; a killed and restarted node keeps its jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agora.chain import connect
from agora.devnet.anvil import AnvilProcess, free_port
from agora.protocol import AddressBook, deploy_devnet
from agora.workloads.sandbox import sandbox_available
from tests.integration.cli_helpers import agora, one_line_error
from tests.integration.proc_helpers import terminate

AGORA = str(Path(sys.executable).with_name("agora"))
usable, why = sandbox_available()

MEAN = """
import csv, json, os
rows = list(csv.DictReader(open(os.environ["AGORA_DATA"])))
col = json.load(open(os.environ["AGORA_PARAMS"]))["column"]
values = [float(r[col]) for r in rows]
json.dump({"mean": sum(values) / len(values), "count": len(values)}, open("out/result.json", "w"))
"""


@pytest.mark.anvil
@pytest.mark.skipif(not usable, reason=f"no sandbox here: {why}")
def test_compute_to_data_from_the_cli_with_a_node_process(capsys: pytest.CaptureFixture[str],
                                                         fresh_anvil: AnvilProcess, agora_home: Path,
                                                         tmp_path: Path) -> None:
    url = fresh_anvil.url
    deploy_devnet(connect(url), book=AddressBook(agora_home / "addressbook.json"))

    def cli(*args: str) -> tuple[int, str, str]:
        return agora(capsys, "--chain", url, *args)

    data = tmp_path / "patients.csv"
    data.write_text("age,weight\n" + "".join(f"{30 + i % 40},{60 + i % 25}\n" for i in range(100)))
    mean, other = tmp_path / "mean.py", tmp_path / "other.py"
    mean.write_text(MEAN)
    other.write_text(MEAN + "\n# another algorithm\n")
    assert cli("--account", "1", "data", "publish", str(data), "--name", "patients", "--price", "1", "--add")[0] == 0
    code, out, err = cli("--account", "1", "data", "compute", "enable", "1", "--budget", "2", "--min-rows", "20",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["epsilon_budget"] == 2.0
    code, out, err = cli("--account", "1", "data", "algorithm", "allow", "1", str(mean))
    assert code == 0 and "is allowed on dataset 1" in out, err

    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "AGORA_HOME": str(agora_home), "AGORA_CHAIN": url, "AGORA_ACCOUNT": "1"}
    proc = None
    try:
        with open(log, "wb") as sink:
            proc = subprocess.Popen([AGORA, "data", "serve", "--port", str(port), "--compute"], env=env,
                                    stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while "serving datasets at" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the access node did not come up"
            time.sleep(0.1)
        node = f"http://127.0.0.1:{port}"

        code, _, err = cli("--account", "5", "data", "compute", "submit", "1", str(other), "--node", node)
        assert code == 1 and "is not allowed on dataset 1 (deny by default)" in one_line_error(err)

        code, out, err = cli("--account", "5", "data", "compute", "submit", "1", str(mean), "--node", node,
                             "--param", "column=age", "--epsilon", "0.5", "--json")
        assert code == 0, err
        job = json.loads(out)
        assert job["node_status"]["state"] == "done", job
        code, out, _ = cli("data", "compute", "status", str(job["job_id"]), "--node", node, "--json")
        st = json.loads(out)
        assert code == 0 and st["state"] == "settled" and st["result_digest"] == st["node"]["resultDigest"]
        target = tmp_path / "result.json"
        code, out, err = cli("--account", "5", "data", "compute", "result", str(job["job_id"]), "--node", node,
                             "-o", str(target))
        assert code == 0 and "checked against the chain" in out, err
        assert json.loads(target.read_text())["count"] == 100
        code, _, err = cli("--account", "6", "data", "compute", "result", str(job["job_id"]), "--node", node,
                           "-o", str(tmp_path / "x.json"))
        assert code == 1 and "not_your_job" in one_line_error(err)
        code, out, _ = cli("data", "budget", "1", "--json")
        assert json.loads(out) == {"dataset_id": 1, "epsilon_budget": 2.0, "epsilon_spent": 0.5, "epsilon_left": 1.5}
    finally:
        rc = terminate(proc, 30)
    assert rc == 0 and "Traceback" not in log.read_text(), log.read_text()
