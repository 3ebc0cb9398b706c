"""Incoming webhooks: `POST /channels/{channel_id}/webhooks` and executing one.

As on Discord: creating needs MANAGE_WEBHOOKS in the channel and returns the webhook with its
token; `POST /webhooks/{webhook_id}/{webhook_token}` is authenticated by the token alone (no
bot token), posts as the webhook (author id = webhook id, `webhook_id` set), answers 204, or
the message with `?wait=true`; an unknown id is 404 10015 Unknown Webhook, a wrong token 401
50027 Invalid Webhook Token. The interaction follow-ups share the path
(`routes_webhooks`): an id that is the application's is an interaction, any other a webhook.

Also here, `enforce_nonce` for `POST /channels/{id}/messages` (Discord: "if another message
was created by the same author with the same nonce [in the past few minutes], that message
will be returned and no new message will be created").
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
import typing

from aiohttp import web

from townsquare.sandbox.rest.common import (
    audit,
    find_channel,
    json_body,
    require_channel_permissions,
    snowflake,
)
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.world.audit import AuditAction
from townsquare.sandbox.world.models import User
from townsquare.sandbox.world.permissions import Permission

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Channel, Message

__all__ = ["NONCE_WINDOW", "Webhook", "create_webhook", "execute", "routes", "same_nonce"]

NONCE_WINDOW: typing.Final = datetime.timedelta(minutes=5)
_INCOMING: typing.Final = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    channel_id: int
    guild_id: int | None
    name: str
    token: str

    def payload(self, application_id: int) -> dict[str, typing.Any]:
        return {
            "id": str(self.id),
            "type": _INCOMING,
            "channel_id": str(self.channel_id),
            "guild_id": None if self.guild_id is None else str(self.guild_id),
            "name": self.name,
            "avatar": None,
            "token": self.token,
            "application_id": str(application_id),
        }


def _webhooks(world: World) -> dict[int, Webhook]:
    """The world's incoming webhooks (kept beside it: the world itself needs none)."""
    found: dict[int, Webhook] | None = getattr(world, "_incoming_webhooks", None)
    if found is None:
        found = {}
        world._incoming_webhooks = found  # type: ignore[attr-defined]
    return found


def create_webhook(world: World, channel: Channel, name: str) -> Webhook:
    """A new incoming webhook of `channel` (also its author, a bot user named `name`)."""
    webhook = Webhook(
        world.snowflakes.next(), channel.id, channel.guild_id, name, secrets.token_urlsafe(48)
    )
    world.users[webhook.id] = User(webhook.id, name, None, bot=True)
    _webhooks(world)[webhook.id] = webhook
    return webhook


def same_nonce(world: World, author_id: int, body: dict[str, typing.Any]) -> Message | None:
    """With `enforce_nonce` in a create-message `body`: the author's message with its `nonce`
    from the last :data:`NONCE_WINDOW`, if any."""
    nonce = body.get("nonce")
    if not body.get("enforce_nonce") or nonce is None:
        return None
    cutoff = world.clock() - NONCE_WINDOW
    for message in reversed(world.messages.values()):
        if message.timestamp < cutoff:
            return None
        if message.author_id == author_id and message.nonce == nonce:
            return message
    return None


async def execute(world: World, request: web.Request) -> web.Response:
    """`POST /webhooks/{webhook_id}/{webhook_token}` for an incoming webhook."""
    webhook = _webhooks(world).get(snowflake(request, "webhook_id"))
    if webhook is None:
        raise DiscordError.unknown(ErrorCode.UNKNOWN_WEBHOOK, "Webhook")
    if not secrets.compare_digest(webhook.token, request.match_info["webhook_token"]):
        raise DiscordError(401, ErrorCode.INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
    body = await json_body(request)
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        raise form_error("content", "BASE_TYPE_BAD_TYPE", "Must be a string.")
    if not content:
        raise DiscordError(400, ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
    if len(content) > 2000:
        raise form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    channel = world.channel(webhook.channel_id)
    if channel is None:
        raise DiscordError.unknown(ErrorCode.UNKNOWN_WEBHOOK, "Webhook")
    message = world.create_message(
        channel, webhook.id, content, allowed_mentions=body.get("allowed_mentions")
    )
    if request.query.get("wait", "").lower() != "true":
        return web.Response(status=204)
    payload = world.message_payload(message)
    payload["webhook_id"] = str(webhook.id)
    return json_response(payload)


def routes(world: World) -> list[web.RouteDef]:
    async def create(request: web.Request) -> web.Response:
        channel = find_channel(world, request)
        require_channel_permissions(world, channel, Permission.MANAGE_WEBHOOKS)
        name = (await json_body(request)).get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 80:
            raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
        webhook = create_webhook(world, channel, name)
        if (guild := world.guild_of(channel)) is not None:
            audit(world, guild, request, AuditAction.WEBHOOK_CREATE, webhook.id)
        return json_response(webhook.payload(world.application.id))

    return [web.post("/api/v10/channels/{channel_id}/webhooks", create)]
