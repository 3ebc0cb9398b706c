from __future__ import annotations

import pytest

from townsquare.features.xp.domain.config import LevelCurve
from townsquare.features.xp.domain.curve import Curve, level_cost


def mee6() -> LevelCurve:
    return LevelCurve(kind="mee6", linear_step=100, table=[])


def test_mee6_costs_follow_the_formula() -> None:
    assert [level_cost(mee6(), level) for level in range(5)] == [100, 155, 220, 295, 380]


@pytest.mark.parametrize(
    ("level", "total"),
    [(0, 0), (1, 100), (2, 255), (3, 475), (4, 770), (5, 1150), (10, 4675), (20, 23_850)],
)
def test_mee6_totals_match_the_summed_formula(level: int, total: int) -> None:
    # The closed form of sum(5n^2 + 50n + 100 for n < L), an independent check of the table.
    assert (
        total
        == 5 * (level - 1) * level * (2 * level - 1) // 6 + 25 * level * (level - 1) + 100 * level
    )
    curve = Curve(mee6(), 100)
    assert curve.xp_for_level(level) == total
    assert curve.level_for(total) == level
    assert curve.level_for(total - 1) == max(0, level - 1)


def test_linear_and_table_curves() -> None:
    linear = Curve(LevelCurve(kind="linear", linear_step=50, table=[]), 10)
    assert [linear.xp_for_level(n) for n in range(4)] == [0, 50, 100, 150]
    assert linear.level_for(149) == 2
    table = Curve(LevelCurve(kind="table", linear_step=1, table=[10, 20, 30]), 6)
    assert [table.xp_for_level(n) for n in range(7)] == [0, 10, 30, 60, 90, 120, 150]


def test_levels_stop_at_max_level_and_nothing_is_negative() -> None:
    curve = Curve(mee6(), 3)
    assert curve.level_for(10**12) == 3
    assert curve.level_for(-5) == 0
    assert curve.level_for(0) == 0
    with pytest.raises(ValueError, match=r"outside 0\.\.3"):
        curve.xp_for_level(4)
