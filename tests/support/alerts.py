"""Alert delivery in tests: settings whose Discord is the sandbox, the operators' webhook, and
what landed where in the sandbox world."""

from __future__ import annotations

import asyncio
import contextlib
import typing

from townsquare.core.discord import sandbox_info_path, write_sandbox_info
from townsquare.core.settings import load_settings
from townsquare.sandbox.rest.routes_channel_webhooks import create_webhook
from townsquare.tasks.alert_delivery import kernel_schedules
from townsquare.tasks.schedule_sources import install_schedules, make_schedule_source
from townsquare.tasks.scheduler import run_scheduler

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox

__all__ = [
    "alerting_settings",
    "channel_texts",
    "dm_texts",
    "operator_webhook",
    "scheduler_running",
    "with_operator_webhook",
]


def operator_webhook(sandbox: Sandbox, channel_id: int) -> str:
    """A new incoming webhook in `channel_id` of the sandbox; its execution URL."""
    webhook = create_webhook(sandbox.world, sandbox.world.channel(channel_id), "ops")  # type: ignore[arg-type]
    return f"{sandbox.info.rest_url}/webhooks/{webhook.id}/{webhook.token}"


def with_operator_webhook(
    sandbox: Sandbox, tmp_path: Path, **alerting: object
) -> tuple[Settings, int]:
    """Settings whose operators' webhook posts in the demo guild's #staff-chat; that channel."""
    guild = next(iter(sandbox.world.guilds.values()))
    channel = next(c.id for c in guild.channels.values() if c.name == "staff-chat")
    url = operator_webhook(sandbox, channel)
    return alerting_settings(sandbox, tmp_path, operator_webhook_url=url, **alerting), channel


def alerting_settings(sandbox: Sandbox, tmp_path: Path, **alerting: object) -> Settings:
    """Settings whose Discord is `sandbox`, with `alerting` keys overridden."""
    environ = {"TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path)} | {
        f"TOWNSQUARE__ALERTING__{key.upper()}": str(value) for key, value in alerting.items()
    }
    settings = load_settings(environ=environ, env_file=None)
    write_sandbox_info(sandbox_info_path(settings), sandbox.info.as_json())
    return settings


def channel_texts(sandbox: Sandbox, channel_id: int) -> list[str]:
    """The contents of the messages in a channel, oldest first."""
    return [m.content for m in sandbox.world.messages.values() if m.channel_id == channel_id]


def dm_texts(sandbox: Sandbox, user_id: int) -> list[str]:
    """What the bot sent `user_id` by DM, oldest first."""
    world = sandbox.world
    channels = {c.id for c in world.dm_channels.values() if user_id in c.recipient_ids}
    return [m.content for m in world.messages.values() if m.channel_id in channels]


@contextlib.asynccontextmanager
async def scheduler_running(
    settings: Settings, redis_url: str, keyspace: Keyspace
) -> AsyncIterator[None]:
    """The scheduler with the kernel's schedules (alert delivery) installed, for a block."""
    source = await make_schedule_source(redis_url, keyspace)
    try:
        await install_schedules(source, kernel_schedules(settings))
    finally:
        await source.shutdown()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_scheduler(settings, redis_url, keyspace, shutdown=stop, update_interval_seconds=0.5)
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
