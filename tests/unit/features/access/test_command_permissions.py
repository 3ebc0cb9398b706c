"""Who may use the management commands: Discord permissions, or a configured manager role."""

from __future__ import annotations

import dataclasses
import typing

import hikari
import pytest

from townsquare.features.access.domain.config import CommandsSection
from townsquare.shards.commands.services import can_manage_guild

MODERATOR, MEMBER_ROLE = 500, 600


@dataclasses.dataclass
class _Member:
    """The two things of an interaction's member that the check reads."""

    permissions: hikari.Permissions
    role_ids: list[hikari.Snowflake]


def _member(permissions: hikari.Permissions, *roles: int) -> hikari.InteractionMember:
    member = _Member(permissions, [hikari.Snowflake(role) for role in roles])
    return typing.cast("hikari.InteractionMember", member)


MANAGERS = CommandsSection(manager_role_ids=[MODERATOR])
NOBODY = CommandsSection(manager_role_ids=[])
PLAIN = hikari.Permissions.SEND_MESSAGES | hikari.Permissions.KICK_MEMBERS


@pytest.mark.parametrize(
    ("member", "commands", "allowed"),
    [
        (_member(hikari.Permissions.MANAGE_GUILD), NOBODY, True),
        (_member(hikari.Permissions.ADMINISTRATOR), NOBODY, True),
        (_member(PLAIN, MODERATOR), MANAGERS, True),
        (_member(PLAIN, MEMBER_ROLE, MODERATOR), MANAGERS, True),
        (_member(PLAIN, MODERATOR), NOBODY, False),
        (_member(PLAIN, MEMBER_ROLE), MANAGERS, False),
        (_member(PLAIN), MANAGERS, False),
        (None, MANAGERS, False),
    ],
)
def test_manage_server_or_a_manager_role(
    member: hikari.InteractionMember | None, commands: CommandsSection, allowed: bool
) -> None:
    assert can_manage_guild(member, set(commands.manager_role_ids)) is allowed
