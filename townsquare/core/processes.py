"""Child-process plumbing shared by the embedded servers and the `up` supervisor.

A child runs as a direct child of the process that starts it, in its own session (so a
Ctrl-C on the terminal reaches the application, which then stops the server in order) and
with `PR_SET_PDEATHSIG` (so the kernel signals the server when its starter dies, even by
SIGKILL, and no orphan keeps the data directory and port). Nothing here knows about Valkey
or PostgreSQL; errors are plain `OSError`s for the callers to explain.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
import typing
from pathlib import Path

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "POLL_INTERVAL",
    "StopPlan",
    "free_port",
    "log_tail",
    "port_is_free",
    "process_alive",
    "process_cmdline",
    "spawn",
    "terminate",
    "wait_until_gone",
]

POLL_INTERVAL = 0.05
"""Seconds between checks while waiting for a server to come up or go away."""

StopPlan = tuple[tuple[signal.Signals, float], ...]
"""Signals to send in turn, each with the seconds to wait before escalating; SIGKILL follows."""

_PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, loaded in the parent: a forked child must not load libraries."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]  # type: ignore[attr-defined]
    prctl.restype = ctypes.c_int  # type: ignore[attr-defined]
    return prctl


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    death_signal: signal.Signals,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `argv` as a child that receives `death_signal` when this thread's process dies.

    Output is appended to `log_path`, never a pipe: nobody reads a pipe while the server runs,
    and a full pipe would block it. Returns the process and the log offset this run starts
    at, so a start-up failure can quote only its own lines.

    The kernel sends the death signal when the *thread* that forked the child exits, so call
    this from a thread that lives as long as the server should (normally the main thread).
    """
    prctl = _prctl()
    parent = os.getpid()

    def die_with_parent() -> None:
        # Runs in the child after setuid (a credential change clears the death signal, so it
        # must come after) and before exec, which keeps it.
        if prctl is not None and prctl(_PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:
            # The parent died between fork and prctl: nobody would ever stop this server.
            os._exit(1)

    entry = pwd.getpwnam(user) if user is not None else None
    with log_path.open("ab") as log:
        offset = log.tell()
        process = subprocess.Popen(  # noqa: S603 - argv is built from our own binaries' paths
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            close_fds=True,
            start_new_session=True,
            # preexec_fn is unsafe with threads only when it takes locks; this one calls a
            # preloaded C function and getppid, nothing that allocates or locks.
            preexec_fn=die_with_parent,  # noqa: PLW1509
            user=entry.pw_uid if entry else None,
            group=entry.pw_gid if entry else None,
            extra_groups=[] if entry else None,
        )
    return process, offset


def terminate(process: subprocess.Popen[bytes], plan: StopPlan) -> int:
    """Stop `process` by `plan`, then SIGKILL; reap it and return its exit code. Idempotent."""
    for sig, grace in plan:
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    if process.poll() is None:
        process.kill()
    return process.wait()


def process_alive(pid: int) -> bool:
    """Whether `pid` is a running process; a zombie (exited, not yet reaped) is not."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        # Either it just exited, or there is no /proc (macOS), where kill() has to do.
        return not Path("/proc/self").is_dir()
    except OSError:
        return True
    fields = stat.rpartition(")")[2].split()
    return not fields or fields[0] not in {"Z", "X"}


def process_cmdline(pid: int) -> str | None:
    """`pid`'s command line joined by spaces, or None when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def wait_until_gone(pid: int, deadline: float) -> bool:
    """Poll until `pid` has exited or `deadline` (monotonic) passes; True if it exited."""
    while process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now. Another process may take it before the server
    binds it, so callers retry with a fresh port when the bind fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind `host:port`.

    SO_REUSEADDR as the servers themselves use it: connections of a server that just stopped
    on the port linger in TIME_WAIT without keeping the next one from binding.
    """
    for address in dict.fromkeys((host, "0.0.0.0")):  # noqa: S104 - only probing a bind
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def log_tail(path: Path, offset: int = 0, lines: int = 20) -> str:
    """The last `lines` lines written to `path` after `offset`, or "" if it cannot be read."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
