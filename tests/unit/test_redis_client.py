from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from townsquare.core.redis_client import (
    ClusterURL,
    RedisURLError,
    connect_redis,
    describe_redis,
    is_cluster_url,
    parse_cluster_url,
)


def test_cluster_urls_are_parsed() -> None:
    assert parse_cluster_url("redis+cluster://a:7000,[::1]:7001/0") == ClusterURL(
        (("a", 7000), ("::1", 7001)), None, None, tls=False
    )
    assert parse_cluster_url("rediss+cluster://me:p%40ss@h:7000") == ClusterURL(
        (("h", 7000),), "me", "p@ss", tls=True
    )
    assert is_cluster_url("REDIS+CLUSTER://h:1") and not is_cluster_url("redis://h:1")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://h:1", "not a cluster URL"),
        ("redis+cluster://", "at least one node"),
        ("redis+cluster://h", "'h' is not host:port"),
        ("redis+cluster://h:99999", "'h:99999' is not host:port"),
    ],
)
def test_bad_cluster_urls_are_refused_by_name(url: str, problem: str) -> None:
    with pytest.raises(RedisURLError, match=problem):
        parse_cluster_url(url)


async def test_the_factory_picks_the_client_by_url() -> None:
    single = connect_redis("redis://127.0.0.1:1/0")
    cluster = connect_redis("redis+cluster://127.0.0.1:1,127.0.0.1:2")
    assert type(single) is Redis
    assert isinstance(cluster, RedisCluster)
    await single.aclose()
    await cluster.aclose()


def test_modes_are_described() -> None:
    assert describe_redis("embedded") == "single server (the embedded Valkey)"
    assert describe_redis("redis://h:1") == "single server"
    assert describe_redis("redis+cluster://h:1") == "Redis Cluster (1 seed node)"
