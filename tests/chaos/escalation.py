"""The escalation ladder after automod, against a reference computed from the recorded offenses.

The reference is written here from the documented rules (docs/moderation.md, "Escalation with
decay"), not from the product's functions: per member, in case-number order, an offense's
active total is the sum of the points of the member's earlier counting offenses (executed, dry
run or failed; not pardoned) still within `offense_expiry_days` of it, halved per whole
`points_half_life_days` when set; the step applied is the highest threshold in
(total before, total before + points]; a manual warn never gets a warn step. Each step must be
one case keyed `<offense key>/ladder` with the step's action (and duration for a timeout), and
no ladder case may exist that no offense called for.
"""

from __future__ import annotations

import collections
import datetime
import typing

from tests.chaos.verdict import Check
from tests.support.xp import SETTINGS
from townsquare.core.config.service import load_guild_config
from townsquare.core.guard.models import Case, CaseStatus

if typing.TYPE_CHECKING:
    from tests.chaos.system import System

__all__ = ["check_escalation", "expected_steps"]

COUNTING: typing.Final = frozenset({CaseStatus.EXECUTED, CaseStatus.DRY_RUN, CaseStatus.FAILED})
"""Statuses whose points count (docs/moderation.md: an offense Discord refused still counts)."""
LADDER_SUFFIX: typing.Final = "/ladder"


def _weight(points: int, age: datetime.timedelta, expiry_days: int, half_life: int | None) -> float:
    age = max(age, datetime.timedelta(0))
    if age >= datetime.timedelta(days=expiry_days):
        return 0.0
    if half_life is None:
        return float(points)
    return points * 0.5 ** (age // datetime.timedelta(days=half_life))


def expected_steps(
    cases: list[dict[str, typing.Any]],
    ladder: list[tuple[int, str, int]],
    *,
    expiry_days: int,
    half_life_days: int | None,
) -> dict[str, tuple[str, int | None, int]]:
    """Offense key + LADDER_SUFFIX -> (action, timeout seconds, case number) each offense's
    step must have produced. `cases` are the guild's cases (number, key, action, target_id,
    points, pardoned, status, occurred_at); `ladder` is (threshold, action, seconds)."""
    history: dict[int, list[tuple[int, datetime.datetime]]] = collections.defaultdict(list)
    expected: dict[str, tuple[str, int | None, int]] = {}
    for case in sorted(cases, key=lambda c: c["number"]):
        counts = case["points"] > 0 and not case["pardoned"] and case["status"] in COUNTING
        if not counts:
            continue
        at = case["occurred_at"]
        earlier = history[case["target_id"]]
        before = sum(_weight(p, at - t, expiry_days, half_life_days) for p, t in earlier)
        after = before + case["points"]
        earlier.append((case["points"], at))
        crossed = [step for step in ladder if before < step[0] <= after]
        if not crossed:
            continue
        _, action, seconds = max(crossed)
        if action == "warn" and case["action"] == "warn":
            continue
        key = (case["key"] + LADDER_SUFFIX)[:200]
        expected[key] = (action, seconds if action == "timeout" else None, case["number"])
    return expected


async def check_escalation(system: System) -> list[Check]:
    section = (await load_guild_config(system.guild_id, SETTINGS.guild_defaults)).config.moderation
    ladder = [(s.offenses, s.action, s.duration_seconds) for s in section.escalation]
    cases = await Case.filter(guild_id=system.guild_id).values(
        "number",
        "key",
        "action",
        "target_id",
        "points",
        "pardoned",
        "status",
        "occurred_at",
        "duration_seconds",
    )
    expected = expected_steps(
        cases,
        ladder,
        expiry_days=section.offense_expiry_days,
        half_life_days=section.points_half_life_days,
    )
    ladder_cases = collections.defaultdict(list)
    for case in cases:
        if case["key"].endswith(LADDER_SUFFIX):
            ladder_cases[case["key"]].append(case)
    missing = sorted(key for key in expected if key not in ladder_cases)
    extra = sorted(key for key in ladder_cases if key not in expected)
    doubled = sorted(key for key, found in ladder_cases.items() if len(found) > 1)
    wrong = sorted(
        f"{key}: {found[0]['action']} {found[0]['duration_seconds']}, expected {want[:2]}"
        for key, want in expected.items()
        if (found := ladder_cases.get(key))
        and (found[0]["action"], found[0]["duration_seconds"]) != want[:2]
    )
    actions = collections.Counter(action for action, *_ in expected.values())
    offenses = sum(1 for c in cases if c["points"] > 0)
    return [
        Check(
            "escalation exactly the ladder's (timeouts, kicks, bans from the offenses' points)",
            not missing and not extra and not doubled and not wrong,
            f"{offenses} offenses with points, {len(expected)} steps expected "
            f"({dict(actions) or 'none'}); missing: {missing[:3] or 'none'}; "
            f"not called for: {extra[:3] or 'none'}; twice: {doubled[:3] or 'none'}; "
            f"wrong action: {wrong[:3] or 'none'}",
        )
    ]
