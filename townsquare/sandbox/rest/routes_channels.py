"""Channels and their messages."""

from __future__ import annotations

import datetime
import typing

from aiohttp import web

from townsquare.sandbox.rest.common import (
    audit,
    find_channel,
    find_message,
    int_query,
    json_body,
    require_channel_permissions,
)
from townsquare.sandbox.rest.embeds import check_components, check_embeds
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.rest.routes_channel_webhooks import same_nonce
from townsquare.sandbox.rest.uploads import attachments_for, message_body
from townsquare.sandbox.snowflakes import snowflake_time
from townsquare.sandbox.world.audit import AuditAction
from townsquare.sandbox.world.permissions import Permission

if typing.TYPE_CHECKING:
    from townsquare.sandbox.rest.uploads import Upload
    from townsquare.sandbox.world import World, payloads
    from townsquare.sandbox.world.models import Channel, Message

__all__ = [
    "allowed_mentions_field",
    "edit_from_body",
    "message_fields",
    "reference_field",
    "routes",
]

MAX_CONTENT: typing.Final[int] = 2000
MAX_EMBEDS: typing.Final[int] = 10
BULK_DELETE_MAX_AGE: typing.Final = datetime.timedelta(days=14)
_READ = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY


def routes(world: World) -> list[web.RouteDef]:
    async def get_channel(request: web.Request) -> web.Response:
        channel = find_channel(world, request)
        require_channel_permissions(world, channel, Permission.VIEW_CHANNEL)
        return json_response(world.channel_payload(channel))

    async def list_messages(request: web.Request) -> web.Response:
        channel = find_channel(world, request)
        require_channel_permissions(world, channel, _READ)
        limit = int_query(request, "limit", 50, 1, 100)
        before = int_query(request, "before", 0, 0, 2**64)
        after = int_query(request, "after", 0, 0, 2**64)
        found = [
            m
            for m in world.messages.values()
            if m.channel_id == channel.id
            and not m.ephemeral
            and (not before or m.id < before)
            and m.id > after
        ]
        found.sort(key=lambda m: m.id, reverse=not after)
        return json_response([world.message_payload(m) for m in found[:limit]])

    async def get_message(request: web.Request) -> web.Response:
        channel = find_channel(world, request)
        require_channel_permissions(world, channel, _READ)
        return json_response(world.message_payload(find_message(world, channel, request)))

    async def create_message(request: web.Request) -> web.Response:
        channel = find_channel(world, request)
        require_channel_permissions(world, channel, Permission.SEND_MESSAGES)
        body, uploads = await message_body(request)
        if uploads:
            require_channel_permissions(world, channel, Permission.ATTACH_FILES)
        content, embeds, components = message_fields(body)
        if not content and not embeds and not components and not uploads:
            raise DiscordError(400, ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
        mentions = allowed_mentions_field(body)
        if (same := same_nonce(world, world.application.bot_user_id, body)) is not None:
            return json_response(world.message_payload(same))
        message = world.create_message(
            channel,
            world.application.bot_user_id,
            content or "",
            embeds=embeds,
            components=components,
            nonce=body.get("nonce"),
            tts=bool(body.get("tts", False)),
            allowed_mentions=mentions,
            attachments=attachments_for(world, channel.id, body, uploads),
            reply_to=reference_field(world, channel.id, body),
        )
        return json_response(world.message_payload(message))

    async def edit_message(request: web.Request) -> web.Response:
        channel = find_channel(world, request)
        require_channel_permissions(world, channel, Permission.VIEW_CHANNEL)
        message = find_message(world, channel, request)
        if message.author_id != world.application.bot_user_id:
            raise DiscordError(
                403,
                ErrorCode.CANNOT_EDIT_OTHERS_MESSAGE,
                "Cannot edit a message authored by another user",
            )
        body, uploads = await message_body(request)
        edit_from_body(world, message, body, uploads)
        return json_response(world.message_payload(message))

    async def delete_message(request: web.Request) -> web.Response:
        channel = find_channel(world, request)
        message = find_message(world, channel, request)
        own = message.author_id == world.application.bot_user_id
        require_channel_permissions(
            world, channel, Permission.VIEW_CHANNEL if own else Permission.MANAGE_MESSAGES
        )
        world.delete_message(message)
        _audit_deletion(world, request, channel, [] if own else [message])
        return web.Response(status=204)

    async def bulk_delete(request: web.Request) -> web.Response:
        """`{"messages": [2..100 ids]}`: MANAGE_MESSAGES; none older than 14 days (50034);
        one MESSAGE_DELETE_BULK."""
        channel = find_channel(world, request)
        require_channel_permissions(world, channel, Permission.MANAGE_MESSAGES)
        ids = _bulk_delete_ids(world, await json_body(request))
        found = [
            world.messages[i]
            for i in dict.fromkeys(ids)
            if i in world.messages and world.messages[i].channel_id == channel.id
        ]
        world.delete_messages(channel, found)
        _audit_deletion(world, request, channel, found)
        return web.Response(status=204)

    messages = "/api/v10/channels/{channel_id}/messages"
    return [
        web.post(messages + "/bulk-delete", bulk_delete),
        web.get("/api/v10/channels/{channel_id}", get_channel),
        web.get(messages, list_messages),
        web.post(messages, create_message),
        web.get(messages + "/{message_id}", get_message),
        web.patch(messages + "/{message_id}", edit_message),
        web.delete(messages + "/{message_id}", delete_message),
    ]


def _audit_deletion(
    world: World, request: web.Request, channel: Channel, deleted: list[Message]
) -> None:
    """Others' messages deleted by the bot: MESSAGE_DELETE (one) or MESSAGE_BULK_DELETE."""
    guild = world.guild_of(channel)
    if guild is None or not deleted:
        return
    if len(deleted) == 1:
        options = {"channel_id": str(channel.id), "count": "1"}
        action, target = AuditAction.MESSAGE_DELETE, deleted[0].author_id
    else:
        options, action, target = (
            {"count": str(len(deleted))},
            AuditAction.MESSAGE_BULK_DELETE,
            channel.id,
        )
    audit(world, guild, request, action, target, options=options)


def _bulk_delete_ids(world: World, body: dict[str, typing.Any]) -> list[int]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not 2 <= len(raw) <= 100:
        raise form_error("messages", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
    ids = [int(m) for m in raw if str(m).isdigit()]
    if len(ids) != len(raw):
        raise form_error("messages", "NUMBER_TYPE_COERCE", "Must be snowflakes.")
    oldest = world.clock() - BULK_DELETE_MAX_AGE
    if any(snowflake_time(i) < oldest for i in ids):
        raise DiscordError(
            400,
            ErrorCode.BULK_DELETE_TOO_OLD,
            "You can only bulk delete messages that are under 14 days old.",
        )
    return ids


def message_fields(
    body: dict[str, typing.Any],
) -> tuple[str | None, list[payloads.JSON] | None, list[payloads.JSON] | None]:
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        raise form_error("content", "BASE_TYPE_STRING", "Must be a string.")
    if content is not None and len(content) > MAX_CONTENT:
        raise form_error(
            "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
        )
    embeds = body.get("embeds")
    if embeds is None and "embed" in body:
        embeds = [body["embed"]]
    if embeds is not None and (not isinstance(embeds, list) or len(embeds) > MAX_EMBEDS):
        raise form_error(
            "embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."
        )
    if embeds:
        check_embeds(embeds)
    components = body.get("components")
    if components is not None and not isinstance(components, list):
        raise form_error("components", "BASE_TYPE_LIST", "Must be a list.")
    if components:
        check_components(components)
    return content, embeds, components


def edit_from_body(
    world: World, message: Message, body: dict[str, typing.Any], uploads: dict[int, Upload]
) -> None:
    """Edit `message` as a PATCH body (JSON or multipart) says: what it names changes."""
    content, embeds, components = message_fields(body)
    world.edit_message(
        message,
        content=content,
        embeds=embeds,
        components=components,
        allowed_mentions=allowed_mentions_field(body),
        attachments=attachments_for(world, message.channel_id, body, uploads, message.attachments),
    )


def reference_field(world: World, channel_id: int, body: dict[str, typing.Any]) -> int | None:
    """The replied-to message of the body's `message_reference`, checked to be in the channel."""
    reference = body.get("message_reference")
    if reference is None:
        return None
    raw = reference.get("message_id") if isinstance(reference, dict) else None
    if not isinstance(raw, str | int) or not str(raw).isdigit():
        raise form_error(
            "message_reference", "MODEL_TYPE_CONVERT", "Only dictionaries may be used."
        )
    replied = world.messages.get(int(raw))
    if replied is None or replied.channel_id != channel_id:
        raise form_error("message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message")
    return replied.id


def allowed_mentions_field(body: dict[str, typing.Any]) -> payloads.JSON | None:
    """The body's `allowed_mentions`, checked as Discord checks it; None when absent."""
    value = body.get("allowed_mentions")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise form_error("allowed_mentions", "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
    parse = value.get("parse", [])
    if not isinstance(parse, list) or not set(parse) <= {"users", "roles", "everyone"}:
        raise form_error(
            "allowed_mentions.parse",
            "BASE_TYPE_CHOICES",
            "Value must be one of ('everyone', 'users', 'roles').",
        )
    for kind in ("users", "roles"):
        ids = value.get(kind, [])
        if not isinstance(ids, list) or len(ids) > 100:
            raise form_error(
                f"allowed_mentions.{kind}",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            )
        if ids and kind in parse:
            raise form_error(
                "allowed_mentions",
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
    return value
