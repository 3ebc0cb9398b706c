"""Where each platform is and how we authenticate to it: the real services, or the sandbox's
loopback platforms.

With a bot token configured, the platforms are the ones in the settings (`alerts.<platform>`),
watched only when enabled, with their secrets from the environment. Without one the deployment
runs against the sandbox, and so do the platforms: the sandbox serves a loopback Twitch, Kick
and YouTube beside its Discord (`/twitch`, `/kick`, `/youtube` on the same port, found through
`<var_dir>/sandbox.json`), every platform is watched, and secrets that are not configured are
fixed development values (the loopback accepts any client credentials).
"""

from __future__ import annotations

import dataclasses
import typing

from pydantic import SecretStr

from townsquare.core.discord import resolve_discord_target
from townsquare.features.streams.domain.models import Platform

if typing.TYPE_CHECKING:
    from townsquare.core.settings import Settings, StreamPlatformSettings

__all__ = [
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_WEBHOOK_SECRET",
    "PlatformAccess",
    "PlatformOffError",
    "callback_url",
    "platform_access",
    "sandbox_platform_urls",
    "webhook_secret",
]

SANDBOX_CLIENT_SECRET: typing.Final = SecretStr("sandbox-client-secret")
SANDBOX_WEBHOOK_SECRET: typing.Final = SecretStr("sandbox-webhook-secret-0123456789")
"""Used against the sandbox when no secret is configured (Twitch wants 10-100 characters)."""

WEBHOOK_PATHS: typing.Final = {
    Platform.TWITCH: "/webhooks/twitch",
    Platform.KICK: "/webhooks/kick",
    Platform.YOUTUBE: "/webhooks/youtube",
}


class PlatformOffError(RuntimeError):
    """The platform is not watched by this deployment (`alerts.<platform>.enabled` is false)."""


@dataclasses.dataclass(frozen=True, slots=True)
class PlatformAccess:
    """One platform's endpoints and credentials, resolved for this deployment."""

    platform: Platform
    api_url: str
    auth_url: str
    """Twitch and Kick: the OAuth2 server's base; YouTube: the WebSub hub's subscribe URL."""
    client_id: str
    client_secret: SecretStr
    webhook_secret: SecretStr
    poll_interval_seconds: float
    sandbox: bool


def sandbox_platform_urls(root: str, platform: Platform) -> tuple[str, str]:
    """The loopback platform's API and auth URLs under the sandbox's `root` URL."""
    match platform:
        case Platform.TWITCH:
            return f"{root}/twitch/helix", f"{root}/twitch/id"
        case Platform.KICK:
            return f"{root}/kick/api", f"{root}/kick/id"
        case _:
            return f"{root}/youtube/v3", f"{root}/youtube/hub"


def platform_access(settings: Settings, platform: Platform | str) -> PlatformAccess:
    """`platform`'s access; :class:`PlatformOffError` when this deployment does not watch it."""
    platform = Platform(platform)
    section: StreamPlatformSettings = getattr(settings.alerts, platform.value)
    if not settings.uses_sandbox:
        if not section.enabled:
            raise PlatformOffError(
                f"{platform.value} alerts are off on this deployment "
                f"(alerts.{platform.value}.enabled is false)"
            )
        # Checked when the settings load: an enabled platform has its secrets.
        assert section.client_secret is not None
        return PlatformAccess(
            platform=platform,
            api_url=section.api_url.rstrip("/"),
            auth_url=section.auth_url.rstrip("/"),
            client_id=section.client_id,
            client_secret=section.client_secret,
            webhook_secret=webhook_secret(settings, platform),
            poll_interval_seconds=section.poll_interval_seconds,
            sandbox=False,
        )
    rest_url = resolve_discord_target(settings).rest_url
    root = rest_url.rsplit("/api/", 1)[0]
    api_url, auth_url = sandbox_platform_urls(root, platform)
    return PlatformAccess(
        platform=platform,
        api_url=api_url,
        auth_url=auth_url,
        client_id=section.client_id or f"townsquare-{platform.value}",
        client_secret=section.client_secret or SANDBOX_CLIENT_SECRET,
        webhook_secret=webhook_secret(settings, platform),
        poll_interval_seconds=section.poll_interval_seconds,
        sandbox=True,
    )


def webhook_secret(settings: Settings, platform: Platform | str) -> SecretStr:
    """The secret our webhooks are signed with (Twitch, YouTube), without resolving where the
    platform is: a webhook needs only this. :class:`PlatformOffError` when not watched."""
    platform = Platform(platform)
    section: StreamPlatformSettings = getattr(settings.alerts, platform.value)
    if settings.uses_sandbox:
        return section.webhook_secret or SANDBOX_WEBHOOK_SECRET
    if not section.enabled:
        raise PlatformOffError(
            f"{platform.value} alerts are off on this deployment "
            f"(alerts.{platform.value}.enabled is false)"
        )
    assert section.client_secret is not None
    return section.webhook_secret or section.client_secret


def callback_url(settings: Settings, platform: Platform | str) -> str:
    """Our webhook URL for `platform`, under the HTTP service's public URL."""
    return settings.http.public_url.rstrip("/") + WEBHOOK_PATHS[Platform(platform)]
