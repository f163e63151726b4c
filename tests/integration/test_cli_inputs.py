"""What people type that the CLI used to stumble on: addresses in any valid case (and a
wrong EIP-55 checksum said as such), job ids that cannot be, amounts that do not fit in a
uint256 or are zero, and an HTTP server that answers but is no JSON-RPC node. Each is one
line on stderr, before anything is sent."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from agora.chain import connect
from agora.cli.options import address_arg
from agora.errors import ChainError, ConfigError, NodeUnreachable
from tests.integration.cli_helpers import agora, one_line_error

ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # dev account 1 (EIP-55)
LOWER = ACCOUNT_1.lower()
UPPER = "0x" + ACCOUNT_1[2:].upper()
BAD_CHECKSUM = "0x70997970c51812dc3A010C7d01b50e0d17dc79C8"  # one letter's case flipped
CHECKSUM_LINE = f"error: {BAD_CHECKSUM} has a wrong EIP-55 checksum (mixed case must match; or write it all lowercase)"


# -- options.address_arg ---------------------------------------------------------------------
@pytest.mark.parametrize("text", [ACCOUNT_1, LOWER, UPPER, LOWER[2:], f" {LOWER} "])
def test_address_arg_takes_every_valid_form_and_checksums_it(text: str) -> None:
    assert address_arg(None, text) == ACCOUNT_1


def test_address_arg_defaults_to_the_acting_account() -> None:
    assert address_arg(SimpleNamespace(address=LOWER), None) == ACCOUNT_1
    with pytest.raises(ConfigError, match="no address given"):
        address_arg(SimpleNamespace(address=None), None)


def test_address_arg_refuses_a_wrong_checksum_and_a_malformed_address() -> None:
    with pytest.raises(ConfigError) as caught:
        address_arg(None, BAD_CHECKSUM)
    assert f"error: {caught.value}" == CHECKSUM_LINE
    for text in ("0x12", "0x" + "g" * 40, "not an address"):
        with pytest.raises(ConfigError, match="is not an address"):
            address_arg(None, text)


# -- every command that takes an address -------------------------------------------------------
def test_token_balance_takes_lowercase(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = agora(capsys, "token", "balance", LOWER, "--json")
    assert code == 0, err
    assert json.loads(out)["address"] == ACCOUNT_1


def test_token_transfer_takes_lowercase(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = agora(capsys, "token", "transfer", LOWER, "1.5", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["to"] == ACCOUNT_1 and data["amount_wei"] == 15 * 10**17


def test_faucet_takes_lowercase(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = agora(capsys, "faucet", LOWER, "--json")
    assert code == 0, err
    assert json.loads(out)["address"] == ACCOUNT_1


@pytest.mark.parametrize(
    "args",
    [
        ("token", "balance", BAD_CHECKSUM),
        ("token", "transfer", BAD_CHECKSUM, "1"),
        ("faucet", BAD_CHECKSUM),
        ("model", "earnings", BAD_CHECKSUM),
        ("provider", "status", BAD_CHECKSUM),
    ],
)
def test_a_wrong_checksum_is_one_line_everywhere(capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    code, out, err = agora(capsys, *args)
    assert code == 1 and out == ""
    assert one_line_error(err) == CHECKSUM_LINE


def test_token_transfer_to_an_empty_address(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "token", "transfer", "", "1")
    assert code == 1 and one_line_error(err) == "error: '' is not an address"


# -- job ids and amounts -----------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["status", "result"])
@pytest.mark.parametrize("job_id", ["-1", "0", str(2**256)])
def test_a_job_id_that_cannot_be(capsys: pytest.CaptureFixture[str], cmd: str, job_id: str) -> None:
    code, _, err = agora(capsys, "job", cmd, "--", job_id)
    assert code == 1
    assert one_line_error(err) == f"error: {job_id} is not a job id (a job id is a positive integer)"


@pytest.mark.parametrize("amount", ["0", "0.0", "0wei"])
def test_a_zero_transfer_is_refused_before_any_transaction(capsys: pytest.CaptureFixture[str], amount: str) -> None:
    code, out, err = agora(capsys, "token", "transfer", ACCOUNT_1, amount)
    assert code == 1 and out == ""
    assert one_line_error(err) == "error: nothing to send: the amount is 0"


@pytest.mark.parametrize("amount", ["1" * 78, "1e60", str(2**256) + "wei", "1e999999999"])
def test_an_amount_beyond_uint256_is_one_line(capsys: pytest.CaptureFixture[str], amount: str) -> None:
    code, out, err = agora(capsys, "token", "transfer", ACCOUNT_1, amount)
    assert code == 1 and out == ""
    assert one_line_error(err) == f"error: {amount!r} is too large an amount (at most 2**256 - 1 base units)"


def test_a_job_price_beyond_uint256_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from agora.workloads import build_digits_model, digits_inputs

    (tmp_path / "model.onnx").write_bytes(build_digits_model())
    (tmp_path / "a.npy").write_bytes(digits_inputs(2, seed=1))
    code, out, err = agora(capsys, "job", "submit", "-k", "onnx-classify", "-m", str(tmp_path / "model.onnx"),
                           "-i", str(tmp_path / "a.npy"), "--price", "1" * 78)
    assert code == 1 and out == ""
    assert one_line_error(err) == f"error: {'1' * 78!r} is too large an amount (at most 2**256 - 1 base units)"


# -- an HTTP server that is no node ------------------------------------------------------------
def _server(status: int, body: bytes, content_type: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
            pass

    return Handler


@pytest.fixture(
    params=[
        (404, b"<html>not found</html>", "text/html", "HTTP 404 Not Found"),
        (200, b"<html>hello</html>", "text/html", "its answer is not JSON"),
        (200, b'{"hello": 1}', "application/json", "its answer is no JSON-RPC response"),
    ],
    ids=["404", "html", "json"],
)
def not_a_node(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    status, body, content_type, why = request.param
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _server(status, body, content_type))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", why
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_connect_to_a_server_that_is_no_node(not_a_node: tuple[str, str]) -> None:
    url, why = not_a_node
    with pytest.raises(ChainError) as caught:
        connect(url, timeout=5)
    assert not isinstance(caught.value, NodeUnreachable)
    assert str(caught.value).startswith(
        f"the server at {url} answered, but not as an Ethereum JSON-RPC node ({why})")


@pytest.mark.parametrize("command", [["chain", "info"], ["token", "balance", ACCOUNT_1]], ids=["web3", "quick-read"])
def test_cli_on_a_server_that_is_no_node(
    capsys: pytest.CaptureFixture[str], not_a_node: tuple[str, str], command: list[str],
) -> None:
    """The same line whether the command goes through web3 or the quick raw JSON-RPC read."""
    url, why = not_a_node
    code, _, err = agora(capsys, "--chain", url, *command)
    line = one_line_error(err)
    assert code == 1
    assert f"answered, but not as an Ethereum JSON-RPC node ({why})" in line and "unreachable" not in line
