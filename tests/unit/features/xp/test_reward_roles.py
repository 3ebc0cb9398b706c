"""The level-reward role rule (the XP domain's): a role the bot can give."""

from __future__ import annotations

from tests.support.roles import four_roles
from townsquare.core.config.references import GuildRoles
from townsquare.features.xp.domain.rewards import reward_role_error


def test_reward_roles_must_be_below_the_bots_highest_role() -> None:
    roles = four_roles(1)
    assert reward_role_error(12, roles) is None
    assert reward_role_error(99, roles) == "99 is not a role of this server (deleted in Discord?)"
    assert "@everyone" in (reward_role_error(1, roles) or "")
    assert "managed by Discord" in (reward_role_error(11, roles) or "")
    assert "not below Townsquare's highest role" in (reward_role_error(10, roles) or "")
    no_role = GuildRoles(1, roles.roles, bot_top=None)
    assert "any role it has" in (reward_role_error(12, no_role) or "")
