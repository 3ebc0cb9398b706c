"""Alert delivery: from the `alerts` stream to the people who must act (flow 14, docs/alerts.md).

A delivery round (the `alerts.deliver` task, queued by the scheduler every
`alerting.deliver_interval_seconds`, one round at a time under a lease) has two steps:

1. **Route and deduplicate** (:data:`_COLLECT`, one Lua script, atomic and bounded by
   `alerting.batch`): the alerts after the cursor go to their destination, `ops` (the operators)
   or `g<guild id>` (the guild's admins). The first alert of a key at a destination opens a
   window of `alerting.window_seconds` and puts a message in the outbox; repeats inside the
   window only count. When the window closes with repeats, one message with the count
   ("x 37 in the last 10 minutes") goes to the outbox and a new window opens; a window that
   closes without repeats is forgotten. The cursor, windows and outbox move together, so a
   process killed at any instant neither skips nor repeats an alert.
2. **Send** the outbox, oldest first, at most `alerting.per_destination` messages per
   destination per `alerting.per_destination_seconds` (the rest wait for a later round). An
   entry is deleted once Discord took it, or refused it for good. Messages the bot posts carry
   the outbox entry id as Discord's `nonce` with `enforce_nonce`, so sending an entry again
   after a crash (between Discord's answer and the delete) returns the message already posted
   instead of a second one. Webhook execution has no nonce: see docs/alerts.md.

Destinations: `ops` is the operators' webhook (`alerting.operator_webhook_url`), else their
channel (`alerting.operator_channel_id`), else the console alone (the entry is dropped here).
`g<id>` is the guild's log channel (the moderation section's `log_channel_id`, looked up by the
caller through the guild configuration), else, or when the bot cannot post there, the owner
by DM.
"""

from __future__ import annotations

import dataclasses
import time
import typing

import aiohttp
import structlog

from townsquare.core.replies import as_text

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    import redis.asyncio as aioredis

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import AlertingSettings

__all__ = [
    "FIRST_SEEN_MAX_AGE_SECONDS",
    "OUTBOX_MAXLEN",
    "Outcome",
    "RoundResult",
    "collect",
    "deliver_round",
    "render",
]

logger = structlog.get_logger(__name__)

OUTBOX_MAXLEN: typing.Final = 10_000
FIRST_SEEN_MAX_AGE_SECONDS: typing.Final = 3600
"""Without a cursor (the first round of a deployment), alerts older than this are not sent."""
COLLECT_ROUNDS: typing.Final = 10
"""Route-and-deduplicate calls per round at most (each bounded by `alerting.batch`)."""
HTTP_TIMEOUT_SECONDS: typing.Final = 10.0

_COLLECT = """
local batch, window, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cursor = redis.call('GET', KEYS[2])
local from = ARGV[4]
if cursor then from = '(' .. cursor end
local function outbox(w, id, count, seconds)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'dest', w.dest, 'count', count,
    'seconds', seconds, 'level', w.level, 'source', w.source, 'message', w.message,
    'key', w.key, 'guild_id', w.guild_id, 'alert_id', id)
end
local routed = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', batch)) do
  local f, raw = {}, entry[2]
  for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
  local dest = 'ops'
  if f.guild_id and f.guild_id ~= '' then dest = 'g' .. f.guild_id end
  local key = f.key or ((f.source or '') .. ':' .. (f.message or ''))
  local field = dest .. '|' .. key
  local state = redis.call('HGET', KEYS[3], field)
  if state then
    local w = cjson.decode(state)
    w.n = w.n + 1
    w.message = f.message or w.message
    redis.call('HSET', KEYS[3], field, cjson.encode(w))
  else
    local w = {n = 0, opened = now, dest = dest, level = f.level or '', source = f.source or '',
      message = f.message or '', key = key, guild_id = f.guild_id or ''}
    redis.call('HSET', KEYS[3], field, cjson.encode(w))
    redis.call('ZADD', KEYS[4], now + window, field)
    outbox(w, entry[1], '1', '0')
  end
  cursor = entry[1]
  routed = routed + 1
end
if cursor then redis.call('SET', KEYS[2], cursor) end
local closed = 0
for _, field in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, batch)) do
  local state = redis.call('HGET', KEYS[3], field)
  local w = state and cjson.decode(state)
  if w and w.n > 0 then
    outbox(w, '', tostring(w.n), tostring(math.floor((now - w.opened) / 1000)))
    w.n = 0
    w.opened = now
    redis.call('HSET', KEYS[3], field, cjson.encode(w))
    redis.call('ZADD', KEYS[4], now + window, field)
  else
    redis.call('HDEL', KEYS[3], field)
    redis.call('ZREM', KEYS[4], field)
  end
  closed = closed + 1
end
return {routed, closed}
"""

_TAKE = """
local sent = tonumber(redis.call('GET', KEYS[1]) or '0')
if sent >= tonumber(ARGV[1]) then return 0 end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class Outcome(typing.NamedTuple):
    delivered: bool
    """The entry is done with (sent, or refused for good); False: try again later."""
    where: str
    """What happened, for the log and the tests: `webhook`, `channel <id>`, `dm <id>`,
    `console`, `dropped: ...`, `later: ...`."""


@dataclasses.dataclass(slots=True)
class RoundResult:
    routed: int = 0
    windows_closed: int = 0
    sent: list[Outcome] = dataclasses.field(default_factory=list)
    waiting: int = 0
    """Outbox entries left for a later round (rate limit, Discord unavailable)."""


async def collect(
    redis: aioredis.Redis, keyspace: Keyspace, settings: AlertingSettings, now_ms: int
) -> tuple[int, int]:
    """Route new alerts and close due windows once; returns (alerts routed, windows closed)."""
    start = f"{max(0, now_ms - FIRST_SEEN_MAX_AGE_SECONDS * 1000)}-0"
    routed, closed = await redis.register_script(_COLLECT)(
        keys=[
            keyspace.key("alerts"),
            keyspace.key("alert_cursor"),
            keyspace.key("alert_windows"),
            keyspace.key("alert_window_ends"),
            keyspace.key("alert_outbox"),
        ],
        args=[settings.batch, settings.window_seconds * 1000, now_ms, start, OUTBOX_MAXLEN],
    )
    return int(routed), int(closed)


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


_BADGES: typing.Final = {"warning": "\N{WARNING SIGN}", "error": "\N{OCTAGONAL SIGN}"}


def render(entry: Mapping[str, str], *, guild_name: str | None = None) -> str:
    """The message text of an outbox entry (at most 2,000 characters, Discord's limit)."""
    count, seconds = int(entry.get("count") or 1), int(entry.get("seconds") or 0)
    level = entry.get("level") or "error"
    head = f"{_BADGES.get(level, '')} **{level}** · `{entry.get('source', '')}`".strip()
    if guild_name is not None:
        head += f" · about your server **{guild_name}**"
    text = f"{head}\n{entry.get('message', '')}"
    if count > 1 or seconds:
        text += f"\nx {count} more in the last {_span(seconds)}"
    return text[:2000]


class _Discord:
    """The few REST calls delivery makes, over one aiohttp session (no hikari in the kernel)."""

    def __init__(self, session: aiohttp.ClientSession, target: DiscordTarget) -> None:
        self.session = session
        self.base = target.rest_url.rstrip("/")
        self.headers = {"Authorization": f"Bot {target.token.get_secret_value()}"}

    async def call(
        self, method: str, path: str, body: dict[str, typing.Any] | None = None
    ) -> tuple[int, typing.Any]:
        async with self.session.request(
            method, self.base + path, json=body, headers=self.headers
        ) as response:
            payload = await response.json(content_type=None) if response.status != 204 else None
            return response.status, payload

    async def post(self, channel_id: int, text: str, nonce: str) -> int:
        status, _ = await self.call(
            "POST",
            f"/channels/{channel_id}/messages",
            {
                "content": text,
                "allowed_mentions": {"parse": []},
                "nonce": nonce,
                "enforce_nonce": True,
            },
        )
        return status


def _later(status: int) -> bool:
    """Whether a Discord answer means "try again later" (rate limited, server trouble)."""
    return status == 429 or status >= 500


def _failed(status: int) -> Outcome:
    """A refusal: done with for good (4xx), or to try again later (429, 5xx)."""
    return Outcome(not _later(status), f"{'later' if _later(status) else 'dropped'}: {status}")


async def _to_operators(
    discord: _Discord, settings: AlertingSettings, entry: Mapping[str, str], nonce: str
) -> Outcome:
    text = render(entry)
    if settings.operator_webhook_url is not None:
        url = settings.operator_webhook_url.get_secret_value()
        async with discord.session.post(
            url,
            params={"wait": "true"},
            json={"content": text, "allowed_mentions": {"parse": []}},
        ) as response:
            status = response.status
        if status < 300:
            return Outcome(True, "webhook")
        return _failed(status)
    if settings.operator_channel_id:
        status = await discord.post(settings.operator_channel_id, text, nonce)
        if status < 300:
            return Outcome(True, f"channel {settings.operator_channel_id}")
        return _failed(status)
    return Outcome(True, "console")


async def _to_guild(
    discord: _Discord,
    guild_id: int,
    entry: Mapping[str, str],
    nonce: str,
    log_channel_of: Callable[[int], Awaitable[int | None]],
) -> Outcome:
    log_channel = await log_channel_of(guild_id)
    if log_channel is not None:
        status = await discord.post(log_channel, render(entry), nonce)
        if status < 300:
            return Outcome(True, f"channel {log_channel}")
        if _later(status):
            return Outcome(False, f"later: {status}")
        logger.info("alerts.log_channel_refused", guild_id=guild_id, status=status)
    status, guild = await discord.call("GET", f"/guilds/{guild_id}")
    if status >= 300:
        return _failed(status)
    owner = int(guild["owner_id"])
    status, dm = await discord.call("POST", "/users/@me/channels", {"recipient_id": str(owner)})
    if status < 300:
        status = await discord.post(int(dm["id"]), render(entry, guild_name=guild["name"]), nonce)
        if status < 300:
            return Outcome(True, f"dm {owner}")
    return _failed(status)


async def deliver_round(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    settings: AlertingSettings,
    *,
    target: DiscordTarget,
    log_channel_of: Callable[[int], Awaitable[int | None]],
    now_ms: int | None = None,
    deadline_seconds: float = 15.0,
) -> RoundResult:
    """One delivery round (route, deduplicate, send); see the module's docstring.

    The caller holds the delivery lease; the round stops sending after `deadline_seconds`
    (half the lease), so a slow Discord cannot let a second round start beside it.
    """
    started = time.monotonic()
    now = round(time.time() * 1000) if now_ms is None else now_ms
    result = RoundResult()
    for _ in range(COLLECT_ROUNDS):
        routed, closed = await collect(redis, keyspace, settings, now)
        result.routed += routed
        result.windows_closed += closed
        if routed < settings.batch and closed < settings.batch:
            break
    outbox = keyspace.key("alert_outbox")
    entries = await redis.xrange(outbox, count=settings.batch)
    if not entries:
        return result
    take = redis.register_script(_TAKE)
    blocked: set[str] = set()
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        discord = _Discord(session, target)
        for raw_id, raw in entries:
            entry_id = as_text(raw_id)
            entry = {as_text(name): as_text(value) for name, value in (raw or {}).items()}
            dest = entry.get("dest", "ops")
            if dest in blocked or time.monotonic() - started > deadline_seconds:
                result.waiting += 1
                continue
            allowed = await take(
                keys=[keyspace.key("alert_rate", dest)],
                args=[settings.per_destination, settings.per_destination_seconds],
            )
            if not allowed:
                blocked.add(dest)
                result.waiting += 1
                continue
            try:
                if dest == "ops":
                    outcome = await _to_operators(discord, settings, entry, entry_id)
                else:
                    outcome = await _to_guild(
                        discord, int(dest[1:]), entry, entry_id, log_channel_of
                    )
            except (aiohttp.ClientError, TimeoutError) as error:
                outcome = Outcome(False, f"later: {type(error).__name__}")
            logger.info(
                "alerts.delivered" if outcome.delivered else "alerts.delivery_postponed",
                dest=dest,
                where=outcome.where,
                key=entry.get("key"),
            )
            if outcome.delivered:
                await redis.xdel(outbox, entry_id)
                result.sent.append(outcome)
            else:
                blocked.add(dest)
                result.waiting += 1
    return result
