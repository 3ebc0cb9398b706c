"""Message bodies with files: `multipart/form-data` with `payload_json` and `files[n]`.

As hikari (and Discord) send them: the JSON body in the `payload_json` part, each file in a
`files[n]` part, and `attachments: [{id: n, filename}]` in the JSON naming them. Each upload
becomes an attachment with a real snowflake id and a URL the sandbox serves (its stand-in for
Discord's CDN). At most 10 files of at most 10 MiB each, as for a bot without boosts.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing

import aiohttp
from aiohttp import web

from townsquare.sandbox.rest.common import json_body
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.payloads import JSON

__all__ = [
    "ATTACHMENT_PATH",
    "MAX_FILE_SIZE",
    "Upload",
    "attachments_for",
    "cdn_routes",
    "message_body",
]

MAX_FILE_SIZE: typing.Final[int] = 10 * 1024 * 1024
MAX_FILES: typing.Final[int] = 10
ATTACHMENT_PATH: typing.Final[str] = "/attachments/{channel_id}/{attachment_id}/{filename}"
_FILE_PART: typing.Final = re.compile(r"^files\[(\d+)\]$")


@dataclasses.dataclass(frozen=True, slots=True)
class Upload:
    index: int
    filename: str
    content_type: str
    data: bytes


async def message_body(request: web.Request) -> tuple[dict[str, typing.Any], dict[int, Upload]]:
    """The JSON body and the uploaded files (by their `files[n]` index)."""
    if request.content_type != "multipart/form-data":
        return await json_body(request), {}
    body: dict[str, typing.Any] = {}
    uploads: dict[int, Upload] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            continue
        if part.name == "payload_json":
            try:
                parsed = json.loads(await part.read(decode=False))
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                raise DiscordError(
                    400, ErrorCode.INVALID_JSON, "The request body contains invalid JSON."
                )
            body = parsed
        elif (match := _FILE_PART.match(part.name or "")) is not None:
            data = await part.read(decode=False)
            if len(data) > MAX_FILE_SIZE:
                raise DiscordError(413, ErrorCode.ENTITY_TOO_LARGE, "Request entity too large")
            index = int(match.group(1))
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            uploads[index] = Upload(index, part.filename or f"file{index}", content_type, data)
    if len(uploads) > MAX_FILES:
        raise form_error(
            "files", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length."
        )
    return body, uploads


def attachments_for(
    world: World,
    channel_id: int,
    body: dict[str, typing.Any],
    uploads: dict[int, Upload],
    existing: list[JSON] | None = None,
) -> list[JSON] | None:
    """The message's attachments after this request; None when it does not touch them.

    New files are stored and described; on an edit, `attachments` in the body lists what to
    keep of `existing` (by id), and without it everything is kept.
    """
    listed = body.get("attachments")
    if not uploads and listed is None:
        return None
    names = {
        str(a.get("id")): a.get("filename")
        for a in listed or []
        if isinstance(a, dict) and a.get("filename")
    }
    kept = list(existing or [])
    if listed is not None and existing:
        wanted = {str(a.get("id")) for a in listed if isinstance(a, dict)}
        kept = [a for a in existing if a["id"] in wanted]
    for index in sorted(uploads):
        upload = uploads[index]
        filename = names.get(str(index)) or upload.filename
        attachment_id = world.snowflakes.next()
        world.attachment_files[attachment_id] = (upload.content_type, upload.data)
        url = world.cdn_base + ATTACHMENT_PATH.format(
            channel_id=channel_id, attachment_id=attachment_id, filename=filename
        )
        kept.append(
            {
                "id": str(attachment_id),
                "filename": filename,
                "size": len(upload.data),
                "url": url,
                "proxy_url": url,
                "content_type": upload.content_type,
            }
        )
    return kept


def cdn_routes(world: World) -> list[web.RouteDef]:
    """The stand-in for Discord's CDN: attachment bytes by URL (no authentication)."""

    async def attachment(request: web.Request) -> web.Response:
        raw = request.match_info["attachment_id"]
        stored = world.attachment_files.get(int(raw)) if raw.isdigit() else None
        if stored is None:
            raise web.HTTPNotFound
        content_type, data = stored
        return web.Response(body=data, content_type=content_type)

    return [web.get(ATTACHMENT_PATH, attachment)]
