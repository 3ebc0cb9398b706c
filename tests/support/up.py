"""`townsquare up` as a child process, for the tests that run the whole platform."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import typing

import pytest

if typing.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path

__all__ = ["UpRun", "up_running"]

READY: typing.Final = "Ctrl-C stops everything"
"""What `up` prints once every child has started."""


@dataclasses.dataclass(slots=True)
class UpRun:
    process: subprocess.Popen[str]
    lines: list[str]
    """What it printed so far (after the block, everything)."""

    @property
    def output(self) -> str:
        return "".join(self.lines)


@contextlib.contextmanager
def up_running(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    options: Sequence[str] = (),
) -> Iterator[UpRun]:
    """`<command> up --no-console [options]` from `cwd`, once it says it is ready (its last
    line in `run.lines`); after the block it is
    stopped with SIGINT, as Ctrl-C does, and its whole output read (check
    `run.process.returncode` then)."""
    process = subprocess.Popen(
        [*command, "up", "--no-console", *options],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run = UpRun(process, [])
    try:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append(line)
            if READY in line:
                break
        else:
            pytest.fail("up exited early:\n" + run.output)
        yield run
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        run.lines.append(output)
