"""``agora devnet up | status | down``: one persistent local chain per Agora home.

The chain is anvil on 127.0.0.1 with its state in ``<home>/devnet/state.json``
(written every second and at a clean stop), so ``down`` then ``up`` keeps
every balance and contract. ``<home>/devnet/devnet.json`` records the running
node's process id and port; a second ``up`` finds it and refuses.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from agora.chain import connect
from agora.devnet.anvil import AnvilProcess, pid_alive, start_anvil, wait_for_rpc
from agora.errors import AgoraError, ConfigError

__all__ = ["Devnet", "DevnetInfo", "DEVNET_CHAIN_ID"]

DEVNET_CHAIN_ID = 31337


@dataclass
class DevnetInfo:
    """What ``status`` reports."""

    running: bool
    pid: int | None = None
    port: int | None = None
    url: str | None = None
    ws_url: str | None = None
    chain_id: int | None = None
    block: int | None = None
    contracts: dict[str, str] | None = None
    state_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As a plain dict."""
        return dict(self.__dict__)


class Devnet:
    """The devnet of one Agora home."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.dir = self.home / "devnet"
        self.state_file = self.dir / "state.json"
        self.info_file = self.dir / "devnet.json"
        self.log_file = self.dir / "anvil.log"
        self._lock = FileLock(str(self.dir / ".lock"))

    def _read_info(self) -> dict[str, Any] | None:
        try:
            info = json.loads(self.info_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if not pid_alive(int(info.get("pid", 0))):
            self.info_file.unlink(missing_ok=True)  # a stale record of a dead node
            return None
        return dict(info)

    def status(self) -> DevnetInfo:
        """Is it running, where, at which block, with which contracts."""
        info = self._read_info()
        if info is None:
            return DevnetInfo(running=False, state_file=str(self.state_file))
        url = f"http://127.0.0.1:{info['port']}"
        out = DevnetInfo(
            running=True, pid=info["pid"], port=info["port"], url=url,
            ws_url=f"ws://127.0.0.1:{info['port']}", state_file=str(self.state_file),
        )
        try:
            chain = connect(url)
            out.chain_id, out.block = chain.chain_id, chain.block_number()
            from agora.protocol import AddressBook, load_deployment

            out.contracts = load_deployment(chain, AddressBook(self.home / "addressbook.json")).addresses
        except AgoraError:
            pass
        return out

    def up(self, port: int = 8545, *, block_time: float | None = None) -> tuple[DevnetInfo, bool]:
        """Start the node (if not running), deploy and fund on first start.

        Returns the status and whether the protocol was deployed just now.
        Raises ConfigError if a devnet of this home is already running.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            info = self._read_info()
            if info is not None:
                raise ConfigError(
                    f"a devnet is already running at http://127.0.0.1:{info['port']} "
                    f"(pid {info['pid']})",
                    hint="use it as it is, or stop it first with `agora devnet down`",
                )
            try:
                proc = start_anvil(
                    port, state=self.state_file, chain_id=DEVNET_CHAIN_ID,
                    block_time=block_time, detach=True, log=self.log_file,
                )
            except AgoraError:
                raise
            except OSError as exc:
                raise ConfigError(f"cannot start anvil: {exc}") from None
            record = {"pid": proc.pid, "port": proc.port, "started": time.time()}
            self.info_file.write_text(json.dumps(record))
            try:
                deployed = self._ensure_protocol(proc)
            except BaseException:
                proc.stop()
                self.info_file.unlink(missing_ok=True)
                raise
        return self.status(), deployed

    def _ensure_protocol(self, proc: AnvilProcess) -> bool:
        from agora.protocol import AddressBook, deploy_devnet, deploy_protocol, load_deployment

        chain = connect(proc.url)
        book = AddressBook(self.home / "addressbook.json")
        try:
            dep = load_deployment(chain, book)
        except ConfigError:
            dep = None
        if dep is not None:
            from agora.protocol import protocol_contracts

            if all(s.role in dep.addresses for s in protocol_contracts()):
                return False
            deploy_protocol(chain, book=book, only_missing=dep, evm_version=dep.evm_version)
            return True
        deploy_devnet(chain, book=book)
        return True

    def down(self) -> bool:
        """Stop the node (its state is written on the way out); False if none was running."""
        with self._lock:
            info = self._read_info()
            if info is None:
                return False
            AnvilProcess(int(info["pid"]), int(info["port"])).stop()
            self.info_file.unlink(missing_ok=True)
            return True

    def reset(self) -> None:
        """Stop the node and delete its state: the next ``up`` starts a new chain."""
        self.down()
        with self._lock:
            self.state_file.unlink(missing_ok=True)

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Block until the running node answers."""
        info = self._read_info()
        if info is None:
            raise ConfigError("no devnet is running", hint="start one with `agora devnet up`")
        wait_for_rpc(f"http://127.0.0.1:{info['port']}", timeout)
