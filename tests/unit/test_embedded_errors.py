"""The embedded servers' error messages and no-op paths, without starting a server."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from townsquare.core.embedded import (
    EmbeddedServer,
    EmbeddedServiceError,
    start_or_attach_postgres,
    start_or_attach_valkey,
)
from townsquare.core.embedded._errors import explain_failure


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ("FATAL:  could not write to file: No space left on device", "disk holding /v is full"),
        ("# Can't open the append-only file: Permission denied", "permission denied"),
        ('FATAL:  data directory "/v" has wrong ownership', "belongs to another user"),
        ("open: Read-only file system", "read-only file system"),
        ("LOG:  database system is ready to accept connections", ""),
    ],
)
def test_log_lines_are_explained(log: str, expected: str) -> None:
    hint = explain_failure(log, Path("/v"))
    assert expected in hint
    assert bool(hint) == bool(expected)


def test_attached_server_stop_is_a_no_op(tmp_path: Path) -> None:
    server = EmbeddedServer("valkey", "redis://127.0.0.1:1/0", False, 999_999, tmp_path)
    server.stop()
    server.stop()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("start", [start_or_attach_valkey, start_or_attach_postgres])
def test_port_out_of_range_is_refused(start: typing.Any, tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServiceError, match=r"port 70000 is not in 0\.\.65535"):
        start(tmp_path, port=70_000)
