"""The control API under /_sandbox/: drive the world and inspect what the bot did.

Loopback clients only. Errors are `{"error": "..."}` naming what was wrong.
"""

from __future__ import annotations

import ipaddress
import typing

from aiohttp import web

from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.interactions import create_command_interaction

if typing.TYPE_CHECKING:
    from townsquare.sandbox.gateway import GatewayHub
    from townsquare.sandbox.rest import RestApi
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Guild

__all__ = ["CONTROL_PREFIX", "ControlApi"]

CONTROL_PREFIX: typing.Final[str] = "/_sandbox"

_Handler = typing.Callable[[web.Request], typing.Awaitable[web.StreamResponse]]


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlApi:
    def __init__(self, hub: GatewayHub, rest: RestApi) -> None:
        self.hub = hub
        self.rest = rest

    @property
    def world(self) -> World:
        return self.hub.world

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if not request.path.startswith(CONTROL_PREFIX + "/"):
            return await handler(request)
        if not _is_loopback(request.remote):
            return json_response({"error": "the control API answers loopback clients only"}, 403)
        try:
            return await handler(request)
        except ControlError as error:
            return json_response({"error": str(error)}, error.status)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(CONTROL_PREFIX + "/world", self.get_world),
            web.get(CONTROL_PREFIX + "/rest-calls", self.get_rest_calls),
            web.get(CONTROL_PREFIX + "/messages", self.list_messages),
            web.post(CONTROL_PREFIX + "/messages", self.inject_message),
            web.get(CONTROL_PREFIX + "/interactions", self.list_interactions),
            web.post(CONTROL_PREFIX + "/interactions", self.inject_command),
            web.post(CONTROL_PREFIX + "/gateway/drop", self.drop_connections),
            web.post(CONTROL_PREFIX + "/gateway/reconnect", self.request_reconnect),
            web.post(CONTROL_PREFIX + "/gateway/invalid-session", self.invalidate_sessions),
        ]

    async def get_world(self, _: web.Request) -> web.Response:
        world = self.world
        return json_response(
            {
                "application": {"id": str(world.application.id), "name": world.application.name},
                "bot_user": payloads.user_payload(world.bot_user),
                "guilds": [self._guild_state(g) for g in world.guilds.values()],
                "message_count": len(world.messages),
                "sessions": [
                    {
                        "session_id": s.session_id,
                        "shard": [s.shard_id, s.shard_count],
                        "seq": s.seq,
                        "connected": s.outbox is not None,
                    }
                    for s in self.hub.sessions.values()
                ],
            }
        )

    def _guild_state(self, guild: Guild) -> payloads.JSON:
        return payloads.guild_payload(guild) | {
            "channels": [payloads.channel_payload(c) for c in guild.channels.values()],
            "members": [self.world.member_payload(m) for m in guild.members.values()],
            "voice_states": [payloads.voice_state_payload(v) for v in guild.voice_states.values()],
        }

    async def get_rest_calls(self, _: web.Request) -> web.Response:
        return json_response([call.as_json() for call in self.rest.calls])

    async def list_messages(self, request: web.Request) -> web.Response:
        channel_id = request.query.get("channel_id")
        found = [
            self.world.message_payload(m)
            for m in self.world.messages.values()
            if channel_id is None or str(m.channel_id) == channel_id
        ]
        return json_response(found)

    async def inject_message(self, request: web.Request) -> web.Response:
        """Post a message as a member: `{"channel_id", "author_id", "content"}`."""
        body = await _json(request)
        channel = self.world.channel(_id(body, "channel_id"))
        if channel is None:
            raise ControlError(404, f"no channel {body['channel_id']}")
        author_id = _id(body, "author_id")
        guild = self.world.guild_of(channel)
        if guild is not None and author_id not in guild.members:
            raise ControlError(400, f"user {author_id} is not a member of guild {guild.id}")
        content = body.get("content")
        if not isinstance(content, str) or not content:
            raise ControlError(400, "content must be a non-empty string")
        message = self.world.create_message(channel, author_id, content)
        return json_response(self.world.message_payload(message))

    async def inject_command(self, request: web.Request) -> web.Response:
        """A member uses a slash command: `{"channel_id", "user_id", "name", "options"?}`."""
        body = await _json(request)
        channel = self.world.channel(_id(body, "channel_id"))
        guild = None if channel is None else self.world.guild_of(channel)
        if channel is None or guild is None:
            raise ControlError(404, f"no guild channel {body['channel_id']}")
        user_id = _id(body, "user_id")
        if user_id not in guild.members:
            raise ControlError(400, f"user {user_id} is not a member of guild {guild.id}")
        name = body.get("name")
        options = body.get("options", [])
        if not isinstance(name, str) or not name:
            raise ControlError(400, "name must be a non-empty string")
        if not isinstance(options, list):
            raise ControlError(400, "options must be a list of {name, type, value}")
        interaction = create_command_interaction(
            self.world, guild, channel, user_id=user_id, name=name, options=options
        )
        return json_response({"id": str(interaction.id), "token": interaction.token})

    async def list_interactions(self, _: web.Request) -> web.Response:
        return json_response(
            [
                {
                    "id": str(i.id),
                    "command": i.command_name,
                    "user_id": str(i.user_id),
                    "channel_id": str(i.channel_id),
                    "response_type": i.response_type,
                    "response_data": i.response_data,
                    "response_message_id": None
                    if i.response_message_id is None
                    else str(i.response_message_id),
                }
                for i in self.world.interactions.values()
            ]
        )

    async def drop_connections(self, request: web.Request) -> web.Response:
        """Cut gateway connections without a close frame: `{"shard_id": n}` or all."""
        connections = self.hub.connections_of(_shard_id(await _json(request)))
        for connection in connections:
            connection.drop()
        return json_response({"dropped": len(connections)})

    async def request_reconnect(self, request: web.Request) -> web.Response:
        """Send RECONNECT (op 7): `{"shard_id": n}` or all; clients resume."""
        connections = self.hub.connections_of(_shard_id(await _json(request)))
        for connection in connections:
            connection.send({"op": 7, "s": None, "t": None, "d": None})
        return json_response({"sent": len(connections)})

    async def invalidate_sessions(self, request: web.Request) -> web.Response:
        """Send INVALID_SESSION (op 9): `{"shard_id": n, "resumable": bool}`.

        Not resumable also ends the session, as on Discord, so a RESUME attempt fails too.
        """
        body = await _json(request)
        resumable = body.get("resumable", False)
        if not isinstance(resumable, bool):
            raise ControlError(400, "resumable must be true or false")
        connections = self.hub.connections_of(_shard_id(body))
        for connection in connections:
            if connection.session is not None and not resumable:
                self.hub.close_session(connection.session)
            connection.send({"op": 9, "s": None, "t": None, "d": resumable})
        return json_response({"sent": len(connections)})


async def _json(request: web.Request) -> dict[str, typing.Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ControlError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    return body


def _id(body: dict[str, typing.Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    raise ControlError(400, f"{key} must be a snowflake (string or integer)")


def _shard_id(body: dict[str, typing.Any]) -> int | None:
    shard_id = body.get("shard_id")
    if shard_id is not None and (not isinstance(shard_id, int) or isinstance(shard_id, bool)):
        raise ControlError(400, "shard_id must be an integer")
    return shard_id


def _is_loopback(remote: str | None) -> bool:
    if remote is None:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False
