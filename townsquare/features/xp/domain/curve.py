"""Level curves: how much XP each level costs, from a guild's `xp.curve` and `xp.max_level`.

Levels start at 0 with 0 XP. `cost(L)` is the XP from level L to L+1:

- `mee6`: `5L^2 + 50L + 100` (MEE6's curve: level 1 at 100 XP, 2 at 255, 5 at 1,150);
- `linear`: `linear_step` for every level;
- `table`: `table[L]`, the last entry repeating for every level past the table.

Levels stop at `max_level`; XP keeps counting beyond it.
"""

from __future__ import annotations

import bisect
import functools
import typing

from townsquare.features.xp.domain.errors import XPDisabledError

if typing.TYPE_CHECKING:
    from townsquare.features.xp.domain.config import LevelCurve, XPSection

__all__ = ["Curve", "curve_for", "enabled_curve", "level_cost"]


def level_cost(curve: LevelCurve, level: int) -> int:
    """XP needed to go from `level` to `level + 1` on `curve`."""
    if level < 0:
        raise ValueError(f"levels start at 0, got {level}")
    match curve.kind:
        case "mee6":
            return 5 * level * level + 50 * level + 100
        case "linear":
            return curve.linear_step
        case "table":
            return curve.table[min(level, len(curve.table) - 1)]


class Curve:
    """Totals per level for one curve, up to its maximum level (a sorted list, bisected)."""

    __slots__ = ("max_level", "thresholds")

    def __init__(self, curve: LevelCurve, max_level: int) -> None:
        if max_level < 0:
            raise ValueError(f"max_level must not be negative, got {max_level}")
        self.max_level = max_level
        thresholds = [0]
        for level in range(max_level):
            thresholds.append(thresholds[-1] + level_cost(curve, level))
        self.thresholds: tuple[int, ...] = tuple(thresholds)
        """`thresholds[L]`: total XP at which level L is reached."""

    def xp_for_level(self, level: int) -> int:
        """Total XP needed to reach `level` (0 for level 0); beyond `max_level` is an error."""
        if not 0 <= level <= self.max_level:
            raise ValueError(f"level {level} is outside 0..{self.max_level}")
        return self.thresholds[level]

    def level_for(self, total_xp: int) -> int:
        """The level a member with `total_xp` has (0 for no or negative XP)."""
        return max(0, bisect.bisect_right(self.thresholds, total_xp) - 1)


@functools.lru_cache(maxsize=256)
def _cached(curve_json: str, max_level: int) -> Curve:
    from townsquare.features.xp.domain.config import LevelCurve

    return Curve(LevelCurve.model_validate_json(curve_json), max_level)


def curve_for(section: XPSection) -> Curve:
    """The (cached) curve of a guild's XP section."""
    return _cached(section.curve.model_dump_json(), section.max_level)


def enabled_curve(section: XPSection) -> Curve:
    """The curve of `section`; :class:`XPDisabledError` when the guild has XP turned off."""
    if not section.enabled:
        raise XPDisabledError
    return curve_for(section)
