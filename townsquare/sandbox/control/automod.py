"""Control route that acts as Discord's own AutoMod: it blocked, flagged or timed out a
member's message, and tells the bot with AUTO_MODERATION_ACTION_EXECUTION (intent
AUTO_MODERATION_EXECUTION), one dispatch per action, as Discord does."""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.control.common import ControlError, find_guild, read_json, snowflake
from townsquare.sandbox.intents import Intent
from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world.state import Dispatch

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World

__all__ = ["routes"]

_TRIGGERS: typing.Final = frozenset({1, 3, 4, 5, 6})
"""KEYWORD, SPAM, KEYWORD_PRESET, MENTION_SPAM, MEMBER_PROFILE."""
_ACTIONS: typing.Final = frozenset({1, 2, 3, 4})
"""BLOCK_MESSAGE, SEND_ALERT_MESSAGE, TIMEOUT, BLOCK_MEMBER_INTERACTION."""


def routes(prefix: str, world: World) -> list[web.RouteDef]:
    async def execute(request: web.Request) -> web.Response:
        """`{"guild_id"?, "user_id", "channel_id"?, "content", "matched_keyword"?,
        "rule_id"?, "trigger_type"? (1), "actions"? ([1])}`: one dispatch per action."""
        body = await read_json(request)
        guild = find_guild(world, body)
        user_id = snowflake(body, "user_id")
        if user_id not in guild.members:
            raise ControlError(404, f"user {user_id} is not a member of guild {guild.id}")
        trigger = body.get("trigger_type", 1)
        actions = body.get("actions", [1])
        if trigger not in _TRIGGERS or not actions or not set(actions) <= _ACTIONS:
            raise ControlError(400, "trigger_type 1, 3, 4, 5 or 6; actions a list of 1..4")
        content = body.get("content", "")
        if not isinstance(content, str):
            raise ControlError(400, "content must be text")
        channel_id = snowflake(body, "channel_id") if "channel_id" in body else None
        rule_id = snowflake(body, "rule_id") if "rule_id" in body else world.snowflakes.next()
        sent = []
        for action in actions:
            data: dict[str, typing.Any] = {
                "guild_id": str(guild.id),
                "action": {"type": action, "metadata": {}},
                "rule_id": str(rule_id),
                "rule_trigger_type": trigger,
                "user_id": str(user_id),
                "content": content,
                "matched_keyword": body.get("matched_keyword"),
                "matched_content": body.get("matched_keyword"),
            }
            if channel_id is not None:
                data["channel_id"] = str(channel_id)
            world.emit(
                Dispatch(
                    "AUTO_MODERATION_ACTION_EXECUTION",
                    guild.id,
                    Intent.AUTO_MODERATION_EXECUTION,
                    data,
                )
            )
            sent.append(data)
        return json_response({"dispatched": sent})

    return [web.post(prefix + "/automod/executions", execute)]
