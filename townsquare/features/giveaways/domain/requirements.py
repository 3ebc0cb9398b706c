"""Who may enter a giveaway, and with how many entries (flow 3: ValidateRole, ValidateLevel).

The same rules run when a member clicks Enter (from the interaction's member payload, the XP
store's level and the user id's snowflake) and when a candidate is drawn (from the member as
Discord returns it then). Every refusal is a plain sentence for the member.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from townsquare.core.snowflakes import snowflake_ms
from townsquare.core.validation import Snowflake, SnowflakeKey
from townsquare.features.giveaways.domain.durations import format_duration

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "MAX_BONUS",
    "MAX_LEVEL",
    "MAX_REQUIREMENT_ROLES",
    "MemberFacts",
    "Requirements",
    "account_created_at",
]

MAX_REQUIREMENT_ROLES: typing.Final = 25
MAX_BONUS: typing.Final = 100
"""Bonus entries a member can hold at most (summed over their roles)."""
MAX_LEVEL: typing.Final = 10_000
_MAX_AGE_SECONDS: typing.Final = 10 * 365 * 86_400

RoleList = Annotated[list[Snowflake], Field(max_length=MAX_REQUIREMENT_ROLES)]
Seconds = Annotated[int, Field(ge=1, le=_MAX_AGE_SECONDS)]


def account_created_at(user_id: int) -> datetime.datetime:
    """When a Discord account was made: the time in its snowflake."""
    return datetime.datetime.fromtimestamp(snowflake_ms(user_id) / 1000, tz=datetime.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the rules need to know about one member."""

    user_id: int
    role_ids: frozenset[int]
    joined_at: datetime.datetime | None
    level: int


class Requirements(BaseModel):
    """A giveaway's entry requirements and bonus entries (stored as JSON with the giveaway)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    required_role_ids: RoleList = []
    """Members need these roles (any or all of them, see :attr:`required_roles_mode`)."""
    required_roles_mode: Literal["any", "all"] = "any"
    excluded_role_ids: RoleList = []
    """Members with any of these roles cannot enter."""
    min_level: Annotated[int, Field(ge=1, le=MAX_LEVEL)] | None = None
    """The XP level a member needs (from the XP store)."""
    min_account_age_seconds: Seconds | None = None
    """How old the member's Discord account must be."""
    min_member_seconds: Seconds | None = None
    """How long the member must have been in the server."""
    bonus_entries: Annotated[
        dict[SnowflakeKey, Annotated[int, Field(ge=1, le=MAX_BONUS)]],
        Field(max_length=MAX_REQUIREMENT_ROLES),
    ] = {}
    """Extra entries per role; a member's bonuses add up (at most :data:`MAX_BONUS`)."""

    @model_validator(mode="after")
    def _roles_do_not_clash(self) -> typing.Self:
        clash = set(self.required_role_ids) & set(self.excluded_role_ids)
        if clash:
            raise ValueError(
                f"a role cannot be both required and excluded: {', '.join(map(str, clash))}"
            )
        return self

    def kinds(self) -> list[str]:
        """The requirement kinds in use (what the premium limit `requirement_types` counts)."""
        used = {
            "required roles": bool(self.required_role_ids),
            "excluded roles": bool(self.excluded_role_ids),
            "minimum level": self.min_level is not None,
            "minimum account age": self.min_account_age_seconds is not None,
            "minimum time in the server": self.min_member_seconds is not None,
        }
        return [kind for kind, on in used.items() if on]

    def weight(self, role_ids: Iterable[int]) -> int:
        """1 entry plus the bonus entries of the member's roles."""
        held = set(role_ids)
        bonus = sum(extra for role_id, extra in self.bonus_entries.items() if role_id in held)
        return 1 + min(bonus, MAX_BONUS)

    def refusals(
        self, member: MemberFacts, now: datetime.datetime, role_name: Callable[[int], str]
    ) -> list[str]:
        """Why `member` may not enter, one clause each; empty when they may."""
        reasons: list[str] = []
        held = member.role_ids
        barred = [role_id for role_id in self.excluded_role_ids if role_id in held]
        if barred:
            reasons.append(f"members with the {_names(barred, role_name, 'and')} role can't enter")
        required = self.required_role_ids
        if required:
            missing = [role_id for role_id in required if role_id not in held]
            if self.required_roles_mode == "all" and missing:
                reasons.append(f"needs the {_names(missing, role_name, 'and')} role")
            elif self.required_roles_mode == "any" and len(missing) == len(required):
                reasons.append(f"needs the {_names(required, role_name, 'or')} role")
        if self.min_level is not None and member.level < self.min_level:
            reasons.append(f"needs level {self.min_level}, you are level {member.level}")
        if self.min_account_age_seconds is not None:
            age = int((now - account_created_at(member.user_id)).total_seconds())
            if age < self.min_account_age_seconds:
                reasons.append(
                    f"needs an account at least {format_duration(self.min_account_age_seconds)} "
                    f"old, yours is {format_duration(max(age, 0))} old"
                )
        if self.min_member_seconds is not None:
            stayed = (
                0 if member.joined_at is None else int((now - member.joined_at).total_seconds())
            )
            if stayed < self.min_member_seconds:
                reasons.append(
                    f"needs {format_duration(self.min_member_seconds)} in the server, "
                    f"you have been here {format_duration(max(stayed, 0))}"
                )
        return reasons

    def describe(self, role_name: Callable[[int], str]) -> list[str]:
        """The requirements and bonuses in plain words, one line each (for the embed)."""
        lines = []
        if self.required_role_ids:
            word = "and" if self.required_roles_mode == "all" else "or"
            lines.append(f"Role: {_names(self.required_role_ids, role_name, word)}")
        if self.excluded_role_ids:
            lines.append(f"Not for: {_names(self.excluded_role_ids, role_name, 'or')}")
        if self.min_level is not None:
            lines.append(f"Level {self.min_level} or higher")
        if self.min_account_age_seconds is not None:
            lines.append(f"Account older than {format_duration(self.min_account_age_seconds)}")
        if self.min_member_seconds is not None:
            lines.append(f"In the server for {format_duration(self.min_member_seconds)}")
        for role_id, extra in self.bonus_entries.items():
            plural = "entry" if extra == 1 else "entries"
            lines.append(f"Bonus: {role_name(role_id)} +{extra} {plural}")
        return lines


def _names(role_ids: Iterable[int], role_name: Callable[[int], str], joiner: str) -> str:
    names = [role_name(role_id) for role_id in role_ids]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {joiner} {names[-1]}"
