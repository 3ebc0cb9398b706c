"""Where this deployment's Discord is: the real one, or the loopback sandbox.

With a bot token in the settings, Discord is Discord (`discord.rest_url`). Without one, the
sandbox is, and the running sandbox says where it listens and which token it accepts by writing
`<var_dir>/sandbox.json` (`townsquare sandbox` and `townsquare up` write it; it holds the same
keys `townsquare sandbox --json` prints). Processes on the machine read that file instead of
being told, so shards and workers started by hand find the sandbox too.
"""

from __future__ import annotations

import dataclasses
import json
import time
import typing

from pydantic import SecretStr

if typing.TYPE_CHECKING:
    from pathlib import Path

    from townsquare.core.settings import Settings

__all__ = [
    "SANDBOX_INFO_FILE",
    "DiscordTarget",
    "DiscordTargetError",
    "resolve_discord_target",
    "sandbox_info_path",
    "write_sandbox_info",
]

SANDBOX_INFO_FILE = "sandbox.json"


DISCORD_IDENTIFY_INTERVAL: typing.Final = 5.0
"""Discord's session start window: one IDENTIFY per bucket (`shard_id % max_concurrency`) per
5 seconds."""


class DiscordTargetError(RuntimeError):
    """The sandbox was expected but has not said where it is."""


@dataclasses.dataclass(frozen=True, slots=True)
class DiscordTarget:
    """What a hikari client needs to reach Discord or the sandbox."""

    rest_url: str
    """REST base including the version, e.g. `https://discord.com/api/v10`."""
    token: SecretStr
    application_id: int
    is_sandbox: bool
    sku_id: int | None = None
    """The sandbox application's premium SKU (None on Discord: the settings map SKUs)."""
    identify_interval: float | None = None
    """Seconds between two IDENTIFYs of one `max_concurrency` bucket; None: Discord's 5, or 0
    against a sandbox. A sandbox says its own (0 when it does not check)."""

    @property
    def identify_pace(self) -> float:
        """`identify_interval`, with None resolved: what the shards pace IDENTIFYs by."""
        if self.identify_interval is not None:
            return self.identify_interval
        return 0.0 if self.is_sandbox else DISCORD_IDENTIFY_INTERVAL


def sandbox_info_path(settings: Settings) -> Path:
    return settings.paths.var_dir / SANDBOX_INFO_FILE


def write_sandbox_info(path: Path, info: dict[str, str]) -> None:
    """Publish a running sandbox's connection details (atomically, readable by owner only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(info), encoding="utf-8")
    scratch.chmod(0o600)
    scratch.replace(path)


def resolve_discord_target(settings: Settings, *, wait_seconds: float = 0.0) -> DiscordTarget:
    """The Discord to talk to; against the sandbox, waits up to `wait_seconds` for its file."""
    if settings.discord.bot_token is not None:
        return DiscordTarget(
            rest_url=settings.discord.rest_url,
            token=settings.discord.bot_token,
            application_id=settings.discord.application_id,
            is_sandbox=False,
        )
    path = sandbox_info_path(settings)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            return DiscordTarget(
                rest_url=str(info["rest_url"]),
                token=SecretStr(str(info["bot_token"])),
                application_id=int(info["application_id"]),
                is_sandbox=True,
                sku_id=int(info["sku_id"]) if info.get("sku_id") else None,
                identify_interval=float(info.get("identify_interval") or 0),
            )
        except (FileNotFoundError, ValueError, KeyError, TypeError) as error:
            if time.monotonic() >= deadline:
                raise DiscordTargetError(
                    f"no bot token is configured, so Discord is the sandbox, but {path} "
                    f"does not describe a running sandbox ({error.__class__.__name__}); start "
                    "`townsquare sandbox` (or `townsquare up`), or set "
                    "TOWNSQUARE__DISCORD__BOT_TOKEN"
                ) from None
        time.sleep(0.2)
