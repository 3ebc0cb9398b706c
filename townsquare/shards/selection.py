"""Which shards a process runs: explicit shard ids, or cluster I of N.

`townsquare shards` takes either `--shard-ids 0,1 --shard-count 4` or `--cluster I --clusters N`
(or nothing: every shard in one process). The total shard count comes, in this order, from
`--shard-count`, from `shards.shard_count` in the settings, or from Discord's recommendation
(GET /gateway/bot `shards`). Clusters get contiguous ranges of shard ids, as even as possible,
so each cluster spans every identify bucket (`shard_id % max_concurrency`) and starts its shards
in parallel where Discord allows it.
"""

from __future__ import annotations

import collections
import dataclasses
import typing

import hikari

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.settings import Settings

__all__ = [
    "ShardSelection",
    "ShardSelectionError",
    "cluster_shard_ids",
    "fetch_recommended_shard_count",
    "parse_shard_selection",
    "resolve_shard_selection",
]


class ShardSelectionError(ValueError):
    """The shard options contradict each other or name shards that cannot exist."""


@dataclasses.dataclass(frozen=True, slots=True)
class ShardSelection:
    """Parsed shard options; :meth:`resolve` turns them into shard ids once the count is known."""

    shard_ids: tuple[int, ...] | None = None
    """Explicit shard ids, or None for a cluster's range (or every shard)."""
    shard_count: int | None = None
    """Total shards if given on the command line; None: from the settings or Discord."""
    cluster: int = 0
    clusters: int = 1

    def resolve(self, shard_count: int) -> tuple[int, ...]:
        """The shard ids this process runs out of `shard_count` shards."""
        if shard_count < 1:
            raise ShardSelectionError(f"the shard count must be at least 1, got {shard_count}")
        if self.shard_ids is None:
            return cluster_shard_ids(self.cluster, self.clusters, shard_count)
        outside = [shard for shard in self.shard_ids if shard >= shard_count]
        if outside:
            raise ShardSelectionError(
                f"shard id(s) {', '.join(map(str, outside))} do not exist with {shard_count} "
                f"shard(s): ids run from 0 to {shard_count - 1}"
            )
        return self.shard_ids


def parse_shard_selection(
    *,
    cluster: int | None = None,
    clusters: int | None = None,
    shard_ids: str | Sequence[int] | None = None,
    shard_count: int | None = None,
) -> ShardSelection:
    """Check the shard options of `townsquare shards`; raise :class:`ShardSelectionError`.

    `shard_ids` is a comma-separated list with optional ranges (`0,1`, `0-3,8`) or a sequence.
    """
    if shard_ids is not None and (cluster is not None or clusters is not None):
        raise ShardSelectionError(
            "give either --shard-ids (with --shard-count) or --cluster with --clusters, not both"
        )
    if (cluster is None) != (clusters is None):
        raise ShardSelectionError("--cluster and --clusters go together: give both or neither")
    if shard_count is not None and shard_count < 1:
        raise ShardSelectionError(f"--shard-count must be at least 1, got {shard_count}")
    if cluster is not None and clusters is not None:
        if clusters < 1:
            raise ShardSelectionError(f"--clusters must be at least 1, got {clusters}")
        if not 0 <= cluster < clusters:
            raise ShardSelectionError(
                f"--cluster must be between 0 and {clusters - 1} for {clusters} cluster(s), "
                f"got {cluster}"
            )
        selection = ShardSelection(shard_count=shard_count, cluster=cluster, clusters=clusters)
    elif shard_ids is not None:
        ids = _parse_ids(shard_ids) if isinstance(shard_ids, str) else tuple(shard_ids)
        _check_ids(ids)
        selection = ShardSelection(shard_ids=ids, shard_count=shard_count)
    else:
        selection = ShardSelection(shard_count=shard_count)
    if selection.shard_count is not None:
        selection.resolve(selection.shard_count)  # fail now, not after connecting to Discord
    return selection


def cluster_shard_ids(cluster: int, clusters: int, shard_count: int) -> tuple[int, ...]:
    """Cluster `cluster`'s contiguous share of `shard_count` shards split over `clusters`."""
    if clusters > shard_count:
        raise ShardSelectionError(
            f"{shard_count} shard(s) cannot be split over {clusters} clusters: some cluster "
            "would run no shard; use fewer clusters or set shards.shard_count / --shard-count"
        )
    start = cluster * shard_count // clusters
    end = (cluster + 1) * shard_count // clusters
    return tuple(range(start, end))


async def fetch_recommended_shard_count(target: DiscordTarget) -> int:
    """Discord's recommended shard count (GET /gateway/bot `shards`)."""
    app = hikari.RESTApp(url=target.rest_url)
    await app.start()
    try:
        async with app.acquire(target.token.get_secret_value(), hikari.TokenType.BOT) as rest:
            info = await rest.fetch_gateway_bot_info()
    finally:
        await app.close()
    return info.shard_count


async def resolve_shard_selection(
    selection: ShardSelection, settings: Settings, target: DiscordTarget
) -> tuple[tuple[int, ...], int]:
    """`(shard_ids, shard_count)`: the count from the options, the settings, or Discord."""
    shard_count = selection.shard_count or settings.shards.shard_count
    if not shard_count:
        shard_count = await fetch_recommended_shard_count(target)
    return selection.resolve(shard_count), shard_count


def _parse_ids(text: str) -> tuple[int, ...]:
    ids: list[int] = []
    for token in (part.strip() for part in text.split(",")):
        low, dash, high = token.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ShardSelectionError(
                f"--shard-ids: {token!r} is not a shard id or a range like 0-3 (ids are "
                "non-negative integers separated by commas)"
            )
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ShardSelectionError(f"--shard-ids: the range {token!r} runs backwards")
        ids.extend(range(first, last + 1))
    return tuple(ids)


def _check_ids(ids: tuple[int, ...]) -> None:
    if not ids:
        raise ShardSelectionError("--shard-ids names no shard")
    negative = [shard for shard in ids if shard < 0]
    if negative:
        raise ShardSelectionError(f"--shard-ids: {negative[0]} is negative")
    repeated = sorted(shard for shard, count in collections.Counter(ids).items() if count > 1)
    if repeated:
        raise ShardSelectionError(
            f"--shard-ids names shard(s) {', '.join(map(str, repeated))} more than once"
        )
