"""A synchronous JSON-RPC provider over WebSocket.

web3.py 8 offers WebSocket only to its async API; the rest of Agora is
synchronous, so this small provider speaks JSON-RPC over one WebSocket
connection, one request at a time (a lock serialises threads).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse
from websockets.sync.client import ClientConnection, connect

__all__ = ["SyncWebSocketProvider"]


class SyncWebSocketProvider(JSONBaseProvider):
    """JSON-RPC over ``ws://`` or ``wss://`` for the synchronous :class:`web3.Web3`."""

    def __init__(self, uri: str, timeout: float = 30.0) -> None:
        super().__init__()
        self.uri = uri
        self.timeout = timeout
        self._conn: ClientConnection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> ClientConnection:
        if self._conn is None:
            conn = connect(self.uri, open_timeout=self.timeout, max_size=2**26)
            # a long-lived connection: enter it as its context manager would
            self._conn = conn.__enter__()
        return self._conn

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """Send one request and wait for the response with the same id."""
        request = self.encode_rpc_request(method, params)
        want = json.loads(request)["id"]
        with self._lock:
            conn = self._connection()
            try:
                conn.send(request.decode())
                while True:
                    raw = conn.recv(timeout=self.timeout)
                    response = self.decode_rpc_response(
                        raw if isinstance(raw, bytes) else raw.encode()
                    )
                    # skip subscription notifications and stale answers
                    if isinstance(response, dict) and response.get("id") == want:
                        return response
            except Exception:
                self._close_locked()
                raise

    def _close_locked(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Close the connection (a later request opens a new one)."""
        with self._lock:
            self._close_locked()
