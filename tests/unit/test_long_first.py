"""The parallel phase's order (tests/support/long_first.py): each worker's first share of the
collection, as xdist's worksteal cuts it, starts with long tests."""

from __future__ import annotations

from tests.support.long_first import share_sizes, with_long_tests_first


def test_the_shares_are_worksteals() -> None:
    assert share_sizes(10, 3) == [3, 3, 4]
    assert share_sizes(1651, 6) == [275, 275, 275, 275, 275, 276]
    assert sum(share_sizes(7, 6)) == 7


def test_each_share_starts_with_its_long_tests_and_nothing_is_lost() -> None:
    items = list(range(20))
    long = {3, 11, 17, 19}
    order = with_long_tests_first(items, [i in long for i in items], workers=3)
    assert sorted(order) == items
    starts = [0]
    for size in share_sizes(len(items), 3)[:-1]:
        starts.append(starts[-1] + size)
    shares = [order[a:b] for a, b in zip(starts, [*starts[1:], len(order)], strict=True)]
    assert [share[0] for share in shares] == [3, 11, 17]
    assert shares[0][1] == 19  # the fourth long test: second in the first share
    # The others keep their collection order.
    assert [i for i in order if i not in long] == [i for i in items if i not in long]
