"""``port_free``: a port left only with TIME_WAIT sockets (anvil just killed) is free; a live
listener is not."""

from __future__ import annotations

import socket

import pytest

from agora.devnet.anvil import port_free


def _listener() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as anvil's listener (tokio/mio) does
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    return srv, int(srv.getsockname()[1])


def test_a_port_in_time_wait_is_free() -> None:
    srv, port = _listener()
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    conn.close()  # the server side closes first: its end of the connection enters TIME_WAIT
    client.recv(1)  # the peer sees the close and closes too, completing the handshake
    client.close()
    srv.close()
    with socket.socket() as plain:  # the condition of the issue: a bind without SO_REUSEADDR fails
        try:
            plain.bind(("127.0.0.1", port))
        except OSError:
            pass
        else:
            pytest.skip("this system leaves no TIME_WAIT socket that blocks a bind")
    assert port_free(port)


def test_a_live_listener_is_not_free() -> None:
    srv, port = _listener()
    with srv:
        assert not port_free(port)
    assert port_free(port)
