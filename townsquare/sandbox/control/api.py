"""The control API under /_sandbox/: drive the world and inspect what the bot did.

Loopback clients only. Errors are `{"error": "..."}` naming what was wrong.
"""

from __future__ import annotations

import asyncio
import typing

from aiohttp import web

from townsquare.sandbox.control import (
    acting,
    automod,
    community,
    entitlements,
    faults,
    interactions,
    invites,
    nuke,
    scenarios,
)
from townsquare.sandbox.control.common import (
    ControlError,
    is_loopback,
    read_json,
    shard_id,
    snowflake,
)
from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world import payloads

if typing.TYPE_CHECKING:
    from townsquare.sandbox.crowd import Crowd
    from townsquare.sandbox.gateway import GatewayHub
    from townsquare.sandbox.rest import RestApi
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Channel, Guild

__all__ = ["CONTROL_PREFIX", "ControlApi"]

CONTROL_PREFIX: typing.Final[str] = "/_sandbox"

_Handler = typing.Callable[[web.Request], typing.Awaitable[web.StreamResponse]]


class ControlApi:
    def __init__(self, hub: GatewayHub, rest: RestApi, crowd: Crowd) -> None:
        self.hub = hub
        self.rest = rest
        self.crowd = crowd

    @property
    def world(self) -> World:
        return self.hub.world

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if not request.path.startswith(CONTROL_PREFIX + "/"):
            return await handler(request)
        if not is_loopback(request.remote):
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
            web.post(CONTROL_PREFIX + "/messages/bulk", self.inject_messages),
            web.get(CONTROL_PREFIX + "/gateway/identifies", self.get_identifies),
            web.post(CONTROL_PREFIX + "/gateway/drop", self.drop_connections),
            web.post(CONTROL_PREFIX + "/gateway/reconnect", self.request_reconnect),
            web.post(CONTROL_PREFIX + "/gateway/invalid-session", self.invalidate_sessions),
            web.post(CONTROL_PREFIX + "/gateway/withhold-acks", self.withhold_acks),
            *community.routes(CONTROL_PREFIX, self.world),
            *acting.routes(CONTROL_PREFIX, self.world),
            *automod.routes(CONTROL_PREFIX, self.world),
            *nuke.routes(CONTROL_PREFIX, self.world),
            *invites.routes(CONTROL_PREFIX, self.world),
            *scenarios.routes(CONTROL_PREFIX, self.world),
            *interactions.routes(CONTROL_PREFIX, self.world),
            *entitlements.routes(CONTROL_PREFIX, self.world),
            *(faults.routes(CONTROL_PREFIX, self.rest.faults) if self.rest.faults else []),
            web.get(CONTROL_PREFIX + "/crowd", self.crowd_state),
            web.post(CONTROL_PREFIX + "/crowd", self.drive_crowd),
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
        """Post a message as a member: `{"channel_id", "author_id", "content"}`, and
        `"reply_to"` (a message id in the channel) for a reply."""
        body = await read_json(request)
        channel, author_id, content = self._message_spec(body)
        reply_to = snowflake(body, "reply_to") if body.get("reply_to") is not None else None
        if reply_to is not None and reply_to not in self.world.messages:
            raise ControlError(404, f"no message {reply_to} to reply to")
        message = self.world.create_message(channel, author_id, content, reply_to=reply_to)
        return json_response(self.world.message_payload(message))

    async def inject_messages(self, request: web.Request) -> web.Response:
        """Post `count` messages (1..1,000,000) as a member, as fast as the sandbox can:
        `{"channel_id", "author_id", "content", "count"}`; content gets ` #n` appended.

        Yields to the event loop every 100 messages so the gateway writers keep sending.
        """
        body = await read_json(request)
        channel, author_id, content = self._message_spec(body)
        count = body.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1_000_000:
            raise ControlError(400, "count must be an integer 1..1000000")
        first = last = 0
        for number in range(count):
            last = self.world.create_message(channel, author_id, f"{content} #{number}").id
            first = first or last
            if number % 100 == 99:
                await asyncio.sleep(0)
        return json_response({"created": count, "first_id": str(first), "last_id": str(last)})

    def _message_spec(self, body: dict[str, typing.Any]) -> tuple[Channel, int, str]:
        channel = self.world.channel(snowflake(body, "channel_id"))
        if channel is None:
            raise ControlError(404, f"no channel {body['channel_id']}")
        author_id = snowflake(body, "author_id")
        guild = self.world.guild_of(channel)
        if guild is not None and author_id not in guild.members:
            raise ControlError(400, f"user {author_id} is not a member of guild {guild.id}")
        content = body.get("content")
        if not isinstance(content, str) or not content:
            raise ControlError(400, "content must be a non-empty string")
        return channel, author_id, content

    async def crowd_state(self, _: web.Request) -> web.Response:
        crowd = self.crowd
        return json_response(
            {
                "rate": crowd.rate,
                "seed": crowd.seed,
                "counts": dict(crowd.counts),
                "recent": [a.as_json() for a in list(crowd.recent)[-50:]],
            }
        )

    async def drive_crowd(self, request: web.Request) -> web.Response:
        """`{"rate"?: actions/s (0 pauses, at most 1000), "steps"?: n}`: set the pace, and/or
        play the next `n` actions now (1..10000); answers the actions played."""
        body = await read_json(request)
        rate, steps = body.get("rate"), body.get("steps", 0)
        if rate is not None:
            if (
                not isinstance(rate, (int, float))
                or isinstance(rate, bool)
                or not 0 <= rate <= 1000
            ):
                raise ControlError(400, "rate must be a number of actions per second, 0..1000")
            self.crowd.rate = float(rate)
            if rate > 0:
                self.crowd.start()
        if not isinstance(steps, int) or isinstance(steps, bool) or not 0 <= steps <= 10_000:
            raise ControlError(400, "steps must be an integer 0..10000")
        played = [self.crowd.step() for _ in range(steps)]
        return json_response(
            {"rate": self.crowd.rate, "played": [a.as_json() for a in played if a is not None]}
        )

    async def get_identifies(self, request: web.Request) -> web.Response:
        """The IDENTIFYs the gateway checked (shard, bucket, loop time in seconds, accepted),
        oldest first; `violations` (refused as too early in their bucket), `resumes` and
        `resumed` (each RESUME that took a session over: shard and loop time)."""
        del request
        settings = self.hub.settings
        return json_response(
            {
                "max_concurrency": settings.max_concurrency,
                "identify_interval": settings.identify_interval,
                "identifies": [
                    {
                        "shard_id": r.shard_id,
                        "bucket": r.bucket,
                        "at": r.at,
                        "accepted": r.accepted,
                    }
                    for r in self.hub.identifies
                ],
                "violations": self.hub.violations,
                "resumes": self.hub.resumes,
                "resumed": [{"shard_id": s, "at": at} for s, at in self.hub.resumed],
            }
        )

    async def drop_connections(self, request: web.Request) -> web.Response:
        """Cut gateway connections without a close frame: `{"shard_id": n}` or all."""
        connections = self.hub.connections_of(shard_id(await read_json(request)))
        for connection in connections:
            connection.drop()
        return json_response({"dropped": len(connections)})

    async def request_reconnect(self, request: web.Request) -> web.Response:
        """Send RECONNECT (op 7): `{"shard_id": n}` or all; clients resume."""
        connections = self.hub.connections_of(shard_id(await read_json(request)))
        for connection in connections:
            connection.send({"op": 7, "s": None, "t": None, "d": None})
        return json_response({"sent": len(connections)})

    async def withhold_acks(self, request: web.Request) -> web.Response:
        """`{"shard_id"?, "withhold"?: true}`: stop (or resume) answering heartbeats on the
        current connections; the client should call the connection a zombie and reconnect.
        A new connection answers again."""
        body = await read_json(request)
        withhold = body.get("withhold", True)
        if not isinstance(withhold, bool):
            raise ControlError(400, "withhold must be true or false")
        connections = self.hub.connections_of(shard_id(body))
        for connection in connections:
            connection.withhold_acks = withhold
        return json_response({"connections": len(connections)})

    async def invalidate_sessions(self, request: web.Request) -> web.Response:
        """Send INVALID_SESSION (op 9): `{"shard_id": n, "resumable": bool}`.

        Not resumable also ends the session, as on Discord, so a RESUME attempt fails too.
        """
        body = await read_json(request)
        resumable = body.get("resumable", False)
        if not isinstance(resumable, bool):
            raise ControlError(400, "resumable must be true or false")
        connections = self.hub.connections_of(shard_id(body))
        for connection in connections:
            if connection.session is not None and not resumable:
                self.hub.close_session(connection.session)
            connection.send({"op": 9, "s": None, "t": None, "d": resumable})
        return json_response({"sent": len(connections)})
