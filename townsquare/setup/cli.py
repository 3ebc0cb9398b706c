"""`townsquare init` and `townsquare doctor` (added to the `townsquare` command by `cli.py`)."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import typing
from pathlib import Path  # noqa: TC003 (typer reads the annotations at run time)
from typing import Annotated

import typer

from townsquare.cli_support import SettingsOption, fail, services, settings_from
from townsquare.core import paths
from townsquare.core.logs import configure_logging
from townsquare.core.settings import (
    ENV_PREFIX,
    SETTINGS_FILE_ENV,
    Settings,
    SettingsError,
    load_settings,
)
from townsquare.setup.files import merge_settings_file, read_env_file, write_env_file

if typing.TYPE_CHECKING:
    import hikari

    from townsquare.core.discord import DiscordTarget

__all__ = ["doctor", "init"]

TOKEN_ENV: typing.Final = f"{ENV_PREFIX}DISCORD__BOT_TOKEN"
CLIENT_SECRET_ENV: typing.Final = f"{ENV_PREFIX}DISCORD__OAUTH_CLIENT_SECRET"
JWT_KEY_ENV: typing.Final = f"{ENV_PREFIX}HTTP__JWT_SIGNING_KEY"
SERVICE_TOKEN_ENV: typing.Final = f"{ENV_PREFIX}HTTP__SERVICE_TOKEN"


class TokenRejectedError(Exception):
    """Discord refused the token; the message is Discord's reason."""


async def _check_token(rest_url: str, token: str) -> tuple[hikari.OwnUser, hikari.Application]:
    """The token's user (`GET /users/@me`) and application (`GET /oauth2/applications/@me`)."""
    import hikari

    app = hikari.RESTApp(url=rest_url)
    await app.start()
    try:
        async with app.acquire(token, hikari.TokenType.BOT) as rest:
            try:
                return await rest.fetch_my_user(), await rest.fetch_application()
            except hikari.UnauthorizedError as error:
                raise TokenRejectedError(f"{error.message} (HTTP {int(error.status)})") from None
    finally:
        await app.close()


def has_members_intent(flags: hikari.ApplicationFlags) -> bool:
    """Whether the application's flags say Server Members is on in the Developer Portal
    (verified bots' flag, or the one of bots in fewer than 100 servers)."""
    import hikari

    flag = hikari.ApplicationFlags
    return bool(flags & (flag.VERIFIED_FOR_GUILD_MEMBERS_INTENT | flag.GUILD_MEMBERS_INTENT))


def missing_intents(settings: Settings, flags: hikari.ApplicationFlags) -> list[str]:
    """The privileged intents the shards will ask for (the features' needs under `settings`)
    that the application's flags say are off in the Developer Portal (Bot page)."""
    import hikari

    from townsquare.shards.intents import needs_member_joins, needs_message_content

    flag = hikari.ApplicationFlags
    missing = []
    content = flag.MESSAGE_CONTENT_INTENT | flag.MESSAGE_CONTENT_INTENT_LIMITED
    if needs_message_content(settings) and not flags & content:
        missing.append("Message Content Intent (automod or the assistant read message text)")
    if needs_member_joins(settings) and not has_members_intent(flags):
        missing.append(
            "Server Members Intent (anti-raid watches members joining, or "
            "discord.server_members_intent has the Overview count joins and leaves)"
        )
    return missing


def _intents_advice(missing: list[str]) -> str:
    return (
        "switch on in the Developer Portal (your application > Bot > Privileged Gateway "
        f"Intents), or Discord refuses the shards: {'; '.join(missing)}"
    )


def _ask_secret(given: str | None, prompt: str) -> str:
    value = given if given is not None else typer.prompt(prompt, hide_input=True)
    value = value.strip()
    if not value or any(char.isspace() for char in value):
        fail(f"{prompt.lower()}: empty or has spaces; paste it again", 2)
    return value


def init(
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="The bot token (Developer Portal > your application > Bot). Asked for, without "
            "echo, when not given; prefer the prompt to keep it out of your shell history.",
            show_default=False,
        ),
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            "--client-secret",
            help="The application's OAuth2 client secret (Developer Portal > OAuth2), for the "
            "dashboard's login. Asked for when not given.",
            show_default=False,
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="Where people reach the dashboard (default: http.public_url; asked for on a "
            "terminal).",
            show_default=False,
        ),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Where to write .env and townsquare.yaml (default: the home: the working "
            "directory in a checkout, the per-user data directory when installed, or "
            "TOWNSQUARE_HOME).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    settings_file: SettingsOption = None,
) -> None:
    """Set up a bot: check its token with Discord, write .env and the settings, print the invite.

    The token is checked (GET /users/@me and /oauth2/applications/@me) before anything is
    written; a token Discord rejects is refused with Discord's reason. The invite link asks for
    exactly the permissions the enabled features need, with the `bot` and
    `applications.commands` scopes.
    """
    try:
        # Without the .env: it may hold the very token being replaced.
        before = load_settings(settings_file, env_file=None)
    except SettingsError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        fail(f"invalid configuration:\n{lines}", 2)
    from townsquare.core.doctor import required_permissions

    required_permissions()  # a feature declaring an unknown permission fails before any write
    home = directory if directory is not None else paths.home_dir()
    bot_token = _ask_secret(token, "Bot token")
    # Any line a library logs with the token in it is masked (townsquare/core/logs.py).
    configure_logging(level=before.logging.level, fmt=before.logging.format, secrets=[bot_token])
    try:
        me, application = asyncio.run(_check_token(before.discord.rest_url, bot_token))
    except TokenRejectedError as error:
        fail(f"Discord rejected the token: {error}. Copy it again from the Developer Portal.")
    except Exception as error:  # any transport failure: say so, write nothing
        fail(f"could not reach Discord at {before.discord.rest_url}: {error.__class__.__name__}")
    if not me.is_bot:
        fail("that token is a user's, not a bot's; use the token on the application's Bot page")
    typer.echo(f"token accepted: the bot is {me.username} ({me.id}), application {application.id}")
    # Joins and leaves are counted when the portal has Server Members on (docs/members.md):
    # recorded as the flags say now, and checked as they will be read.
    members_intent = has_members_intent(application.flags)
    discord = before.discord.model_copy(update={"server_members_intent": members_intent})
    if missing := missing_intents(
        before.model_copy(update={"discord": discord}), application.flags
    ):
        typer.echo(_intents_advice(missing))
    oauth_secret = _ask_secret(client_secret, "OAuth2 client secret")
    if public_url is None and sys.stdin.isatty():
        public_url = typer.prompt("Dashboard URL", default=before.http.public_url)
    url = (public_url or before.http.public_url).rstrip("/")
    if not url.startswith(("http://", "https://")):
        fail(f"--public-url must start with http:// or https://, not {url!r}", 2)

    env_path = home / ".env"
    settings_path = home / paths.USER_SETTINGS_NAME
    existing = read_env_file(env_path)
    write_env_file(
        env_path,
        {
            TOKEN_ENV: bot_token,
            CLIENT_SECRET_ENV: oauth_secret,
            # Kept when already set, so dashboard sessions survive running init again.
            JWT_KEY_ENV: existing.get(JWT_KEY_ENV) or secrets.token_urlsafe(32),
            SERVICE_TOKEN_ENV: existing.get(SERVICE_TOKEN_ENV) or secrets.token_urlsafe(32),
            SETTINGS_FILE_ENV: str(settings_path.resolve()),
        },
    )
    merge_settings_file(
        settings_path,
        {
            "discord": {
                "application_id": int(application.id),
                "oauth_client_id": str(application.id),
                "server_members_intent": members_intent,
            },
            "http": {"public_url": url},
        },
    )
    typer.echo(f"wrote {env_path} (the secrets; readable by you only)")
    typer.echo(f"wrote {settings_path}")
    try:
        after = load_settings(environ={**os.environ, paths.HOME_ENV: str(home)}, env_file=env_path)
    except SettingsError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        fail(f"the configuration is not valid yet:\n{lines}", 2)
    _print_next_steps(after, home)


def _print_next_steps(settings: Settings, home: Path) -> None:
    from townsquare.core.doctor import invite_url

    typer.echo(
        "add this redirect in the Developer Portal (OAuth2 > Redirects): "
        f"{settings.http.public_url.rstrip('/')}/auth/callback"
    )
    typer.echo("invite the bot to your server with:")
    typer.echo(
        "  " + invite_url(settings.discord.oauth_authorize_url, settings.discord.application_id)
    )
    where = "" if home.resolve() == paths.home_dir().resolve() else f"TOWNSQUARE_HOME={home} "
    typer.echo(
        f"then run `{where}townsquare up`, and `{where}townsquare doctor` once the bot is in "
        "your server."
    )


def doctor(settings_file: SettingsOption = None) -> None:
    """Check each server the bot is in and print what to fix there.

    Reports the permissions the enabled features need that the bot lacks, the roles it must
    assign that sit above its highest role, and the channels it must post in but cannot.

    Exit 0 when nothing needs fixing, 1 when something does (listed), 2 when Discord or the
    database cannot be reached: for scripts and monitoring.
    """
    from townsquare.core.discord import DiscordTargetError, resolve_discord_target

    settings = settings_from(settings_file)
    try:
        target = resolve_discord_target(settings)
    except DiscordTargetError as error:
        fail(str(error), 2)
    with services(settings) as (_, database_url):
        outcome = asyncio.run(_doctor(settings, target, database_url))
    if isinstance(outcome, str):
        fail(outcome, 2)
    raise typer.Exit(outcome)


async def _doctor(settings: Settings, target: DiscordTarget, database_url: str) -> str | int:
    import hikari
    from tortoise.exceptions import BaseORMException

    from townsquare.core import db
    from townsquare.core.doctor import health_report, stored_config

    async def config_of(guild_id: int) -> typing.Any:
        return await stored_config(guild_id, settings.guild_defaults)

    app = hikari.RESTApp(url=target.rest_url)
    await app.start()
    try:
        async with (
            db.connect(database_url, pool_max=2),
            app.acquire(target.token.get_secret_value(), hikari.TokenType.BOT) as rest,
        ):
            application = await rest.fetch_application()
            report = await health_report(rest, config_of)
    except hikari.HTTPError as error:
        return f"Discord answered with an error: {error.__class__.__name__}"
    except OSError as error:
        return f"Discord or the database cannot be reached: {error}"
    except BaseORMException as error:
        return (
            f"the database cannot be read ({error.__class__.__name__}): is this the running "
            "install's configuration, and has `townsquare up` (or `migrate`) run?"
        )
    finally:
        await app.close()
    if missing := missing_intents(settings, application.flags):
        typer.echo(f"the application: {_intents_advice(missing)}")
    typer.echo(report.render())
    return 1 if missing else report.exit_code
