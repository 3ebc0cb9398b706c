"""What every XP command checks first: XP is on in the guild (else a refusal that says so)."""

from __future__ import annotations

import typing

from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.curve import enabled_curve
from townsquare.features.xp.domain.errors import XPDisabledError
from townsquare.shards.commands.services import Refusal

if typing.TYPE_CHECKING:
    from townsquare.features.xp.domain.curve import Curve
    from townsquare.shards.commands.services import CommandServices

__all__ = ["guild_curve", "section_curve"]


def section_curve(section: XPSection) -> Curve:
    """The level curve of `section`; refuses when XP is turned off."""
    try:
        return enabled_curve(section)
    except XPDisabledError as error:
        raise Refusal(str(error)) from None


async def guild_curve(services: CommandServices, guild_id: int) -> Curve:
    """The guild's level curve (its cached configuration); refuses when XP is turned off."""
    return section_curve((await services.guild_config(guild_id)).section(XPSection))
