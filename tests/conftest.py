"""Shared fixtures: real Redis and PostgreSQL for every integration test; the sandbox's
fixtures and the slash-command driver come in as plugins from `tests.support`.

With `TOWNSQUARE_TEST_REDIS_URL` / `TOWNSQUARE_TEST_DATABASE_URL` set (CI sets both), tests use
those servers; otherwise they start the embedded Valkey and PostgreSQL once per session in a
temporary directory. Isolation: every test gets a fresh Redis key namespace, and every test run
gets a fresh PostgreSQL database that is dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import typing
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from townsquare.core.keyspace import Keyspace
from townsquare.core.redis_client import connect_redis

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

# The support package's asserts explain their failures, as the tests' own do.
pytest.register_assert_rewrite("tests.support")

pytest_plugins = (
    "tests.support.sandbox",
    "tests.support.workers",
    "tests.support.discord",
    "tests.support.bot",
    "tests.support.pipeline",
    "tests.support.valkey",
    "tests.support.backends",
    "tests.support.giveaways",
    "tests.support.streams",
    "tests.support.assistant",
    "tests.support.cluster_slots",
    "tests.support.redis_cluster",
    "tests.support.long_first",
)

REDIS_URL_ENV = "TOWNSQUARE_TEST_REDIS_URL"
DATABASE_URL_ENV = "TOWNSQUARE_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def embedded_root() -> Iterator[Path]:
    """Where the session's embedded servers keep their data.

    Not under pytest's tmp_path: as root, PostgreSQL runs as the `embedded_postgres` user, and
    every new pytest session resets `/tmp/pytest-of-root` to 0700, which would cut a running
    server off from its files.
    """
    root = Path(tempfile.mkdtemp(prefix="townsquare-embedded-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def single_redis_url(embedded_root: Path) -> Iterator[str]:
    """The single Redis of the run (CI's, or the embedded Valkey)."""
    if url := os.environ.get(REDIS_URL_ENV):
        yield url
        return
    from townsquare.core.embedded import start_or_attach_valkey

    server = start_or_attach_valkey(embedded_root / "valkey")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, single_redis_url: str) -> str:
    """The test's Redis: the single one, or with `tests.support.redis_cluster.ON_CLUSTER_TOO`
    (the parameter `cluster`) a 3-master Redis Cluster started once for the session."""
    if getattr(request, "param", "single") == "cluster":
        return typing.cast("str", request.getfixturevalue("redis_cluster_url"))
    return single_redis_url


@pytest.fixture(scope="session")
def server_database_url(embedded_root: Path) -> Iterator[str]:
    """URL of the PostgreSQL server's maintenance database."""
    if url := os.environ.get(DATABASE_URL_ENV):
        yield url
        return
    from townsquare.core.embedded import start_or_attach_postgres

    server = start_or_attach_postgres(embedded_root / "postgres")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def empty_database_url(server_database_url: str) -> AsyncIterator[str]:
    """A new, empty database for one test."""
    from tests.support.databases import scratch_database

    async with scratch_database(server_database_url, "townsquare_test") as url:
        yield url


@pytest.fixture(scope="session")
async def database_url(server_database_url: str) -> AsyncIterator[str]:
    """A database for this test run with every migration applied; dropped afterwards."""
    from tests.support.databases import scratch_database
    from townsquare.core.db import migrate

    async with scratch_database(server_database_url, "townsquare_test") as url:
        await migrate(url)
        yield url


def model_tables() -> list[str]:
    """Every table of every model the ORM has registered (with many-to-many tables)."""
    from tortoise import Tortoise

    tables = set()
    for models in Tortoise.apps.values():
        for model in models.values():
            tables.add(model._meta.db_table)
            for name in model._meta.m2m_fields:
                tables.add(model._meta.fields_map[name].through)
    return sorted(tables)


@pytest.fixture
async def orm(database_url: str) -> AsyncIterator[None]:
    """Tortoise connected to the test run's database; after the test, every table of the
    ORM's model registry is emptied (so a new model needs no edit here)."""
    from tortoise import Tortoise

    from townsquare.core.db import connect

    async with connect(database_url):
        yield
        tables = ", ".join(f'"{table}"' for table in model_tables())
        connection = Tortoise.get_connection("default")
        await connection.execute_script(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def keyspace() -> Keyspace:
    """A namespace no other test uses."""
    return Keyspace(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def redis(redis_url: str, keyspace: Keyspace) -> AsyncIterator[aioredis.Redis]:
    client = connect_redis(redis_url)
    try:
        yield client
    finally:
        async for key in client.scan_iter(match=f"{keyspace.namespace}:*", count=1000):
            await client.delete(key)
        await client.aclose()
