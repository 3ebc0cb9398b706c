"""A private Valkey for tests that change server settings or block the server (a pytest
plugin: fixture `private_valkey`, one server per test module).

The shared Redis of the test run belongs to everybody: its SLOWLOG, its busy threshold, and
a script that blocks it. Tests that need those start their own server with the project's
embedded-server code, in a temporary directory, on a free port.
"""

from __future__ import annotations

import typing

import pytest

from townsquare.core.embedded import start_or_attach_valkey

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

    from townsquare.core.embedded import EmbeddedServer

__all__ = ["private_valkey"]


@pytest.fixture(scope="module")
def private_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A Valkey of the module's own, started from the embedded-server code, stopped after."""
    directory = tmp_path_factory.mktemp("valkey")
    directory.chmod(0o755)
    server = start_or_attach_valkey(directory / "valkey")
    try:
        yield server
    finally:
        server.stop()
