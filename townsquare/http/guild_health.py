"""The dashboard's Health page: what the bot lacks in this server for the enabled features.

The same report as `townsquare doctor` (`townsquare.core.doctor`), for one guild, read from
Discord when the page is opened: the permissions the bot's roles do not give, the roles it
must assign that sit above its own, the channels it must post in but cannot, and what to do.
"""

from __future__ import annotations

import typing

import hikari
from quart import current_app, g, render_template
from quart_schema import hide

from townsquare.core.discord import DiscordTargetError, resolve_discord_target
from townsquare.core.discord_rest import DiscordRest
from townsquare.core.doctor import guild_health, stored_config
from townsquare.http.access import managed_guild
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.config_forms import GuildLink
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.core.doctor import GuildHealth
    from townsquare.http.access import Session

__all__ = ["LINK", "blueprint", "check_guild"]

blueprint = dashboard_blueprint(
    "guild_health", __name__, url_prefix="/dashboard/guilds/<id:guild_id>/health"
)
LINK: typing.Final = GuildLink("health", "Health", "guild_health.show")

_EXTENSION: typing.Final = "townsquare.health.rest"


def _rest() -> DiscordRest:
    rest = current_app.extensions.get(_EXTENSION)
    if rest is None:
        rest = current_app.extensions[_EXTENSION] = DiscordRest()
    return typing.cast("DiscordRest", rest)


@blueprint.after_app_serving
async def _close() -> None:
    rest = current_app.extensions.pop(_EXTENSION, None)
    if isinstance(rest, DiscordRest):
        await rest.close()


async def check_guild(guild_id: int) -> tuple[GuildHealth | None, str]:
    """The guild's health, or None and why it could not be read."""
    app_state = state()
    try:
        target = app_state.discord or resolve_discord_target(app_state.settings)
    except DiscordTargetError:
        return None, "Discord cannot be reached from the dashboard right now; try again shortly."
    try:
        client = await _rest().client(target)
        me = await client.fetch_my_user()
        config = await stored_config(guild_id, app_state.defaults)
        return await guild_health(client, guild_id, int(me.id), config), ""
    except hikari.NotFoundError:
        return None, "The bot is not in this server: invite it first."
    except (hikari.HTTPError, OSError) as error:
        return None, f"Discord did not answer ({error.__class__.__name__}); try again shortly."


@blueprint.get("")
@hide
async def show(guild_id: int) -> str:
    session: Session = g.ts_session
    guild = await managed_guild(session, guild_id)
    health, error = await check_guild(guild_id)
    return await render_template(
        "guild_health.html",
        user=session,
        guild_id=guild_id,
        guild_name=guild.name if guild else str(guild_id),
        health=health,
        error=error,
    )
