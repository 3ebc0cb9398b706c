"""The words of the grace-period notice (sent once to the owner and the log channel)."""

from __future__ import annotations

import typing

from townsquare.core.premium import premium_page_path

if typing.TYPE_CHECKING:
    from townsquare.core.premium import PremiumCatalogue
    from townsquare.features.premium.domain.status import GuildPremium

__all__ = ["grace_notice"]


def grace_notice(
    guild: GuildPremium, guild_name: str, catalogue: PremiumCatalogue, public_url: str
) -> str:
    """The notice that `guild`'s subscription ended and its grace period started."""
    assert guild.grace_until is not None
    when = (
        f"<t:{int(guild.grace_until.timestamp())}:f>"  # keyspace: not a key (a Discord timestamp)
    )
    lower = guild.paid_tier.name
    url = public_url.rstrip("/") + premium_page_path(guild.guild_id)
    return (
        f"The {guild.tier.name} premium of **{guild_name or guild.guild_id}** has ended. "
        f"Its {guild.tier.name} limits stay until {when}; after that, whatever goes beyond the "
        f"{lower} limits is paused (never deleted), and everything resumes as soon as the "
        f"server subscribes again: {url}"
    )
