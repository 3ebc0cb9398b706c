from __future__ import annotations

import re
from pathlib import Path

import pytest

from townsquare.core.features import enabled_features
from townsquare.core.keyspace import FAMILIES, Keyspace, KeyspaceError, RedisType

DOCS = Path(__file__).resolve().parents[2] / "docs" / "redis-keys.md"


def test_builds_namespaced_keys() -> None:
    ks = Keyspace("ts")
    assert ks.key("xp", 123) == "ts:xp:123"
    assert ks.key("xp_awarded", 1, 2**64 - 1) == f"ts:xp_awarded:1:{2**64 - 1}"
    assert ks.key("stream", "automod") == "ts:stream:automod"
    assert ks.key("shard_health", 0) == "ts:shard_health:0"
    assert ks.key("alerts") == "ts:alerts"
    assert ks.pattern("xp_awarded") == "ts:xp_awarded:*:*"


@pytest.mark.parametrize(
    ("family", "parts", "message"),
    [
        ("nope", (), "unregistered key family 'nope'"),
        ("xp", (0,), "is not a snowflake"),
        ("xp", (2**64,), "is not a snowflake"),
        ("xp", ("123",), "is not a snowflake"),
        ("xp", (True,), "is not a snowflake"),
        ("xp", (), "takes 1 part(s)"),
        ("xp", (1, 2), "takes 1 part(s)"),
        ("stream", ("XP",), "is not a name"),
        ("stream", ("a b",), "is not a name"),
        ("stream", ("x:y",), "is not a name"),
        ("shard_health", (-1,), "not a non-negative integer"),
    ],
)
def test_rejects_bad_families_and_parts(
    family: str, parts: tuple[object, ...], message: str
) -> None:
    with pytest.raises(KeyspaceError, match=re.escape(message)):
        Keyspace("ts").key(family, *parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("namespace", ["", "TS", "1ts", "t s", "ts:x", "a" * 40])
def test_rejects_bad_namespaces(namespace: str) -> None:
    with pytest.raises(KeyspaceError):
        Keyspace(namespace)


def test_fixed_ttls_are_exposed() -> None:
    ks = Keyspace("ts")
    assert ks.ttl("shard_health") == 15
    assert ks.ttl("stream") is None


def test_docs_list_every_family_with_its_type_and_ttl() -> None:
    enabled_features()  # the features' families are registered when they are loaded
    text = DOCS.read_text()
    rows = {
        cells[0].strip("` "): cells
        for line in text.splitlines()
        if line.startswith("| `")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert set(rows) == set(FAMILIES), "docs/redis-keys.md and keyspace.FAMILIES disagree"
    for name, family in FAMILIES.items():
        assert family.redis_type.value in rows[name][2], name
        if family.ttl.seconds is not None:
            assert f"{family.ttl.seconds} s" in rows[name][3], name
    assert all(f.redis_type in RedisType for f in FAMILIES.values())
