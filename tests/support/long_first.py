"""Start the long tests first in the parallel phase of `make test`.

pytest-xdist's `worksteal` gives each of its W workers a contiguous share of the collection
(the first `N // W` tests, then a fair share of the rest, and so on) and each runs its share
in order, idle workers stealing the later half of a busy one's queue. A test of two minutes
that happened to sit at the end of a share (the short chaos run, the OpenAPI fuzz) started
late and ran on alone while the other workers idled, stretching the phase. Tests marked
`long` are dealt round robin, in collection order, to the front of the shares, so they run
from the start, side by side, and the short tests fill in around them.
"""

from __future__ import annotations

import typing

import pytest

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["share_sizes", "with_long_tests_first"]


def share_sizes(total: int, workers: int) -> list[int]:
    """The sizes of xdist worksteal's first shares of `total` tests among `workers` (its
    `check_schedule`: each idle worker in turn gets `pending // workers remaining`)."""
    sizes = []
    pending = total
    for remaining in range(workers, 0, -1):
        size = pending // remaining
        sizes.append(size)
        pending -= size
    return sizes


def with_long_tests_first[T](items: Sequence[T], is_long: Sequence[bool], workers: int) -> list[T]:
    """`items` reordered so that each worker's first share starts with its long tests (dealt
    round robin in their order), the others following in their collection order."""
    long = [item for item, flag in zip(items, is_long, strict=True) if flag]
    rest = [item for item, flag in zip(items, is_long, strict=True) if not flag]
    shares: list[list[T]] = [[] for _ in range(workers)]
    for index, item in enumerate(long):
        shares[index % workers].append(item)
    order: list[T] = []
    for share, size in zip(shares, share_sizes(len(items), workers), strict=True):
        fill = max(0, size - len(share))
        order += share + rest[:fill]
        del rest[:fill]
    return order + rest


@pytest.hookimpl(trylast=True)  # after `-m` has deselected: the shares are of what runs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workers = int(getattr(config, "workerinput", {}).get("workercount", 0))
    if workers < 2:
        return
    flags = [item.get_closest_marker("long") is not None for item in items]
    if any(flags):
        items[:] = with_long_tests_first(items, flags, workers)
