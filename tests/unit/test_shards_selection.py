"""Shard selection: `--shard-ids/--shard-count` and `--cluster/--clusters`, and their errors."""

from __future__ import annotations

import pytest

from townsquare.shards import (
    ShardSelection,
    ShardSelectionError,
    cluster_shard_ids,
    parse_shard_selection,
)


def test_explicit_ids_with_ranges() -> None:
    selection = parse_shard_selection(shard_ids="0,1, 4-6", shard_count=8)
    assert selection == ShardSelection(shard_ids=(0, 1, 4, 5, 6), shard_count=8)
    assert selection.resolve(8) == (0, 1, 4, 5, 6)
    assert parse_shard_selection(shard_ids=[2, 3]).resolve(4) == (2, 3)


def test_nothing_given_means_every_shard_in_this_process() -> None:
    assert parse_shard_selection().resolve(3) == (0, 1, 2)
    assert parse_shard_selection(shard_count=2).resolve(2) == (0, 1)


def test_clusters_get_contiguous_ranges_that_cover_every_shard_once() -> None:
    assert [cluster_shard_ids(c, 3, 10) for c in range(3)] == [
        (0, 1, 2),
        (3, 4, 5),
        (6, 7, 8, 9),
    ]
    assert parse_shard_selection(cluster=1, clusters=2).resolve(4) == (2, 3)
    for count in range(1, 40):
        for clusters in range(1, count + 1):
            covered = [s for c in range(clusters) for s in cluster_shard_ids(c, clusters, count)]
            assert covered == list(range(count))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shard_ids": "0,1", "cluster": 0, "clusters": 2}, "not both"),
        ({"cluster": 0}, "--cluster and --clusters go together"),
        ({"clusters": 2}, "--cluster and --clusters go together"),
        ({"cluster": 2, "clusters": 2}, "between 0 and 1"),
        ({"cluster": -1, "clusters": 2}, "between 0 and 1"),
        ({"cluster": 0, "clusters": 0}, "--clusters must be at least 1"),
        ({"shard_count": 0}, "--shard-count must be at least 1"),
        ({"shard_ids": ""}, "'' is not a shard id"),
        ({"shard_ids": "0,x"}, "'x' is not a shard id"),
        ({"shard_ids": "1,-2"}, "'-2' is not a shard id"),
        ({"shard_ids": "3-1"}, "runs backwards"),
        ({"shard_ids": "0,1,1-2"}, "shard(s) 1 more than once"),
        ({"shard_ids": [-1]}, "-1 is negative"),
        ({"shard_ids": []}, "names no shard"),
        ({"shard_ids": "0,4", "shard_count": 4}, "shard id(s) 4 do not exist with 4 shard(s)"),
        ({"cluster": 0, "clusters": 3, "shard_count": 2}, "cannot be split over 3 clusters"),
    ],
)
def test_bad_options_are_refused_with_a_clear_reason(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ShardSelectionError) as caught:
        parse_shard_selection(**options)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_a_count_learned_later_is_checked_too() -> None:
    with pytest.raises(ShardSelectionError, match=r"ids run from 0 to 1"):
        parse_shard_selection(shard_ids="0,2").resolve(2)
    with pytest.raises(ShardSelectionError, match="cannot be split"):
        parse_shard_selection(cluster=0, clusters=4).resolve(3)
