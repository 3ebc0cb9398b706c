from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
from redis.crc import key_slot

from townsquare.core.features import enabled_features
from townsquare.core.keyspace import (
    FAMILIES,
    GUILD_BUCKETS,
    Family,
    HashTag,
    Keyspace,
    KeyspaceError,
    Part,
    RedisType,
    TagScope,
    TTLPolicy,
    guild_bucket,
    hash_tag,
    key_template,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "redis-keys.md"


def test_builds_namespaced_keys() -> None:
    ks = Keyspace("ts")
    assert ks.key("xp", 123) == "ts:xp:{g123}:123"
    assert ks.key("xp", 256 + 5) == "ts:xp:{g5}:261"
    assert ks.key("xp_awarded", 1, 2**64 - 1) == f"ts:xp_awarded:{{g1}}:1:{2**64 - 1}"
    assert ks.key("stream", "automod") == "ts:stream:{automod}"
    assert ks.key("shard_health", 0) == "ts:shard_health:0"
    assert ks.key("alerts") == "ts:alerts:{alerts}"
    assert ks.key("xp_dirty_guilds", guild_bucket(261)) == "ts:xp_dirty_guilds:{g5}"
    assert ks.pattern("xp_awarded") == "ts:xp_awarded:*:*:*"
    assert ks.pattern("stream") == "ts:stream:*"
    assert ks.pattern("shard_health") == "ts:shard_health:*"


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
        ("xp_dirty_guilds", (GUILD_BUCKETS,), "is not a bucket of guilds"),
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
    text = DOCS.read_text().split("\n## Cluster")[0]  # the family tables come first
    rows = {
        cells[0].strip("` "): cells
        for line in text.splitlines()
        if line.startswith("| `")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert set(rows) == set(FAMILIES), "docs/redis-keys.md and keyspace.FAMILIES disagree"
    for name, family in FAMILIES.items():
        assert rows[name][1] == f"`{key_template(name)}`", name
        assert family.redis_type.value in rows[name][2], name
        if family.ttl.seconds is not None:
            assert f"{family.ttl.seconds} s" in rows[name][3], name
    assert all(f.redis_type in RedisType for f in FAMILIES.values())


def test_keys_used_together_share_a_slot() -> None:
    """A guild's keys share its bucket's slot with its bucket of a guild index; a pipeline's
    stream, retry set, dead letters and reclaim lock share one; so do the alerts."""
    enabled_features()
    ks = Keyspace("ts")
    guild = 900_000_000_000_000_411
    together = [
        [
            ks.key("xp", guild),
            ks.key("xp_seen", guild, 7),
            ks.key("xp_loaded", guild),
            ks.key("xp_level_jobs", guild),
            ks.key("xp_dirty_guilds", guild_bucket(guild)),
            ks.key("activity_counts", guild, 10),
            ks.key("activity_pending", guild_bucket(guild)),
            ks.key("activity_done", guild, "joins", "x"),
        ],
        [ks.key(f, "xp") for f in ("stream", "retry", "dead_letter", "reclaim_lock")],
        [ks.key("alerts"), ks.key("guild_alerts", guild), ks.key("alert_outbox")],
        [ks.key("shard_lease", 3), ks.key("shard_session", 3)],
    ]
    for keys in together:
        assert len({key_slot(key.encode()) for key in keys}) == 1, keys
    assert key_slot(ks.key("xp", 1).encode()) != key_slot(ks.key("xp", 2).encode())


def test_hash_tag_is_the_first_braced_part() -> None:
    assert hash_tag("ts:xp:{g5}:261") == "g5"
    assert hash_tag("ts:shard_health:0") == "ts:shard_health:0"
    assert hash_tag("ts:{}:x") == "ts:{}:x"


def test_a_tag_must_fit_the_family_parts() -> None:
    ttl = TTLPolicy.persistent("test")
    with pytest.raises(KeyspaceError, match="does not fit"):
        Family("t", RedisType.SET, (), ttl, "w", "p", HashTag.guild())
    with pytest.raises(KeyspaceError, match="does not fit"):
        Family("t", RedisType.SET, (Part.NAME,), ttl, "w", "p", HashTag.guild_bucket())
    with pytest.raises(KeyspaceError, match="does not fit"):
        Family("t", RedisType.SET, (), ttl, "w", "p", HashTag.group("Bad Tag"))


def test_scan_every_family_key_matches_its_pattern_and_tag() -> None:
    """Every family's key matches its SCAN pattern and carries the tag its scope declares."""
    enabled_features()
    ks = Keyspace("ts")
    samples = {Part.SNOWFLAKE: 261, Part.INDEX: 5, Part.NAME: "xp", Part.HASHED: "free text"}
    for name, family in FAMILIES.items():
        key = ks.key(name, *(samples[kind] for kind in family.parts))
        glob = ks.pattern(name).replace("{", "[{]").replace("}", "[}]")
        assert fnmatch.fnmatchcase(key, glob), (name, key)
        assert key.count(":") == key_template(name).count(":"), name
        expected = {
            TagScope.NONE: key,
            TagScope.FIRST_PART: str(samples[family.parts[0]]) if family.parts else key,
            TagScope.GUILD: "g5",
            TagScope.GUILD_BUCKET: "g5",
            TagScope.FIXED: family.tag.fixed,
        }[family.tag.scope]
        assert hash_tag(key) == expected, name
