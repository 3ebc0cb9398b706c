"""The HTTP service's Discord REST client for guarded actions (one per app, closed with it)."""

from __future__ import annotations

import typing

from quart import current_app

from townsquare.core.discord import resolve_discord_target
from townsquare.core.discord_rest import DiscordRest
from townsquare.core.guard.guard import GuardContext
from townsquare.features.moderation.domain.enforce import guard_policy
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from quart import Blueprint

    from townsquare.features.moderation.domain.config import ModerationSection

__all__ = ["close_on_stop", "guard_context"]

_EXTENSION: typing.Final = "townsquare.moderation.rest"


def _rest() -> DiscordRest:
    rest = current_app.extensions.get(_EXTENSION)
    if rest is None:
        rest = current_app.extensions[_EXTENSION] = DiscordRest()
    return typing.cast("DiscordRest", rest)


async def guard_context(section: ModerationSection) -> GuardContext:
    """The guard's context in a request: the app's REST client, Redis, the guild's policy."""
    app_state = state()
    target = app_state.discord or resolve_discord_target(app_state.settings)
    client = await _rest().client(target)
    return GuardContext(
        client, app_state.require_redis(), app_state.keyspace, guard_policy(section)
    )


def close_on_stop(blueprint: Blueprint) -> None:
    @blueprint.after_app_serving
    async def _close() -> None:
        rest = current_app.extensions.pop(_EXTENSION, None)
        if isinstance(rest, DiscordRest):
            await rest.close()
