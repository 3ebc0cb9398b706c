"""`townsquare init` and `townsquare doctor` as an operator runs them, against the sandbox.

The commands run as real processes (`python -m townsquare.cli`), talking to an in-process
sandbox over HTTP with hikari, as they would talk to Discord.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import stat
import sys
import typing
import urllib.parse
from pathlib import Path

import hikari
import pytest
import yaml

from tests.support.world import channel_named, demo_guild
from townsquare.core.discord import sandbox_info_path, write_sandbox_info
from townsquare.core.doctor import guild_health, invite_url, required_permissions
from townsquare.core.features import KERNEL_PERMISSIONS, Feature, enabled_features
from townsquare.core.settings import load_settings
from townsquare.sandbox.world.models import Overwrite
from townsquare.sandbox.world.roles import create_role

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

pytestmark = pytest.mark.integration


class Run(typing.NamedTuple):
    code: int
    out: str
    err: str


async def townsquare(*args: str, cwd: Path, env: dict[str, str], stdin: str | None = None) -> Run:
    """Run the `townsquare` command without blocking the loop the sandbox serves on."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "townsquare.cli",
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin is not None else None), timeout=60
    )
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def operator_env(home: Path, sandbox: Sandbox, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOWNSQUARE")}
    env |= {
        "TOWNSQUARE_HOME": str(home),
        "TOWNSQUARE__DISCORD__REST_URL": sandbox.info.rest_url,
        "TOWNSQUARE__LOGGING__LEVEL": "debug",  # every line a library logs, to look for the token
        "TOWNSQUARE__LOGGING__FORMAT": "json",
    }
    return env | extra


def _declared_permissions() -> hikari.Permissions:
    """What the kernel and the enabled features declare, read here from the declarations."""
    needed = hikari.Permissions.NONE
    for name in (*KERNEL_PERMISSIONS, *(n for f in enabled_features() for n in f.permissions)):
        needed |= hikari.Permissions[name]
    return needed


def _invite_in(output: str) -> urllib.parse.ParseResult:
    (line,) = [line.strip() for line in output.splitlines() if "oauth2/authorize?" in line]
    return urllib.parse.urlparse(line)


async def test_init_with_flags_checks_the_token_writes_private_files_and_prints_the_invite(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    token = sandbox.info.bot_token
    run = await townsquare(
        *("init", "--token", token, "--client-secret", "s3cret-client"),
        *("--public-url", "https://bot.example.org"),
        cwd=tmp_path,
        env=operator_env(tmp_path, sandbox),
    )
    assert run.code == 0, run.err
    application_id = sandbox.world.application.id
    assert f"application {application_id}" in run.out
    # Never echoed, never logged (the run logs at debug level).
    assert token not in run.out
    assert token not in run.err
    assert "s3cret-client" not in run.out + run.err

    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = dict(line.split("=", 1) for line in env_file.read_text().splitlines()[1:])
    assert written["TOWNSQUARE__DISCORD__BOT_TOKEN"] == token
    assert written["TOWNSQUARE__DISCORD__OAUTH_CLIENT_SECRET"] == "s3cret-client"
    assert len(written["TOWNSQUARE__HTTP__JWT_SIGNING_KEY"]) >= 32
    assert len(written["TOWNSQUARE__HTTP__SERVICE_TOKEN"]) >= 32
    choices = yaml.safe_load((tmp_path / "townsquare.yaml").read_text())
    assert choices == {
        "discord": {
            "application_id": application_id,
            "oauth_client_id": str(application_id),
            "server_members_intent": True,  # the scenario's app has it: joins and leaves counted
        },
        "http": {"public_url": "https://bot.example.org"},
    }

    invite = _invite_in(run.out)
    query = urllib.parse.parse_qs(invite.query)
    assert query["client_id"] == [str(application_id)]
    assert query["scope"] == ["bot applications.commands"]
    granted = hikari.Permissions(int(query["permissions"][0]))
    assert granted == _declared_permissions()
    # What the features do needs these (XP's rewards, moderation's actions, the live cards'
    # role pings), and nothing grants more than asked: no Administrator.
    for name in ("MANAGE_ROLES", "BAN_MEMBERS", "MODERATE_MEMBERS", "SEND_MESSAGES"):
        assert hikari.Permissions[name] in granted
    assert hikari.Permissions.ADMINISTRATOR not in granted
    assert "https://bot.example.org/auth/callback" in run.out
    assert "Privileged Gateway Intents" not in run.out  # the scenario's app has them on

    # The files are a valid configuration, as `up` will read them (from the home).
    settings = load_settings(environ={"TOWNSQUARE_HOME": str(tmp_path)}, env_file=tmp_path / ".env")
    assert settings.discord.application_id == application_id
    assert settings.discord.bot_token is not None
    assert settings.discord.bot_token.get_secret_value() == token

    # Running it again keeps the session keys and replaces only what it sets.
    with env_file.open("a") as handle:
        handle.write("TOWNSQUARE__AI__GEMINI_API_KEY=kept\n")
    again = await townsquare(
        *("init", "--token", token, "--client-secret", "other-secret"),
        cwd=tmp_path,
        env=operator_env(tmp_path, sandbox),
    )
    assert again.code == 0, again.err
    rewritten = dict(line.split("=", 1) for line in env_file.read_text().splitlines()[1:])
    assert (
        rewritten["TOWNSQUARE__HTTP__JWT_SIGNING_KEY"]
        == written["TOWNSQUARE__HTTP__JWT_SIGNING_KEY"]
    )
    assert rewritten["TOWNSQUARE__DISCORD__OAUTH_CLIENT_SECRET"] == "other-secret"
    assert rewritten["TOWNSQUARE__AI__GEMINI_API_KEY"] == "kept"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


async def test_init_refuses_a_token_discord_rejects_with_its_reason_and_writes_nothing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    forged = sandbox.info.bot_token[:-6] + "AAAAAA"
    run = await townsquare(
        *("init", "--token", forged, "--client-secret", "x"),
        cwd=tmp_path,
        env=operator_env(tmp_path, sandbox),
    )
    assert run.code == 1
    assert "Discord rejected the token: 401: Unauthorized" in run.err
    assert forged not in run.out + run.err
    assert not (tmp_path / ".env").exists()
    assert not (tmp_path / "townsquare.yaml").exists()


async def test_init_asks_for_the_secrets_without_echoing_them(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    token = sandbox.info.bot_token
    run = await townsquare(
        "init",
        cwd=tmp_path,
        env=operator_env(tmp_path, sandbox),
        stdin=f"{token}\nasked-secret\n",
    )
    assert run.code == 0, run.err
    assert "Bot token" in run.out + run.err  # it asked
    assert token not in run.out + run.err
    assert "asked-secret" not in run.out + run.err
    assert f"TOWNSQUARE__DISCORD__BOT_TOKEN={token}" in (tmp_path / ".env").read_text()
    assert "oauth2/authorize?" in run.out


async def test_init_and_doctor_say_which_privileged_intents_to_switch_on(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The application's flags (GET /oauth2/applications/@me) say the Message Content intent is
    off, while automod (on in the guild defaults) reads message text."""
    sandbox.world.application.flags = 0
    run = await townsquare(
        *("init", "--token", sandbox.info.bot_token, "--client-secret", "x"),
        cwd=tmp_path,
        env=operator_env(tmp_path, sandbox),
    )
    assert run.code == 0, run.err
    assert "Privileged Gateway Intents" in run.out
    assert "Message Content Intent" in run.out
    assert "Server Members Intent" not in run.out  # anti-raid is off in the defaults
    choices = yaml.safe_load((tmp_path / "townsquare.yaml").read_text())
    assert choices["discord"]["server_members_intent"] is False  # not asked for: no 4014
    # Anti-raid on in the defaults: the members intent is needed as well.
    run = await townsquare(
        *("init", "--token", sandbox.info.bot_token, "--client-secret", "x"),
        cwd=tmp_path,
        env=operator_env(
            tmp_path, sandbox, TOWNSQUARE__GUILD_DEFAULTS__MODERATION__ANTI_RAID__ENABLED="true"
        ),
    )
    assert run.code == 0, run.err
    assert "Server Members Intent" in run.out


def test_the_invite_follows_the_declarations() -> None:
    """A feature that declares a permission adds it to the link; none asks for what it lacks."""
    mail = Feature(name="mail", permissions=("ATTACH_FILES",))
    base = required_permissions()
    assert hikari.Permissions.ATTACH_FILES not in base
    with_mail = required_permissions((*enabled_features(), mail))
    assert with_mail == base | hikari.Permissions.ATTACH_FILES
    url = invite_url("https://discord.com/oauth2/authorize", 42, (*enabled_features(), mail))
    assert f"permissions={int(with_mail)}" in url
    assert required_permissions(()) == hikari.Permissions(
        hikari.Permissions.VIEW_CHANNEL
        | hikari.Permissions.SEND_MESSAGES
        | hikari.Permissions.EMBED_LINKS
    )


# --- doctor -----------------------------------------------------------------------------------


async def _break_the_guild(sandbox: Sandbox) -> tuple[int, int, int]:
    """A level reward role above the bot's, and the level-up channel closed to the bot."""
    from townsquare.core.config.models import GuildConfigRecord
    from townsquare.core.config.service import load_guild_config
    from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState
    from townsquare.features.xp.domain.models import LevelReward

    guild = demo_guild(sandbox)
    legend = create_role(sandbox.world, guild, name="Mythic", position=len(guild.roles))
    closed = channel_named(guild, "off-topic")
    bot_id = sandbox.world.application.bot_user_id
    guild.channels[closed].overwrites.append(
        Overwrite(id=bot_id, type=1, deny=int(hikari.Permissions.SEND_MESSAGES))
    )
    defaults = load_settings(environ={}, env_file=None).guild_defaults
    versioned = await load_guild_config(guild.id, defaults)
    document = versioned.config.model_dump(mode="json")
    document["levels"]["notice"] = {**document["levels"]["notice"], "mode": "channel"}
    document["levels"]["notice"]["channel_id"] = str(closed)
    await GuildConfigRecord.filter(guild_id=guild.id).update(document=document)
    await LevelReward.create(guild_id=guild.id, level=60, role_id=legend.id)
    # A running giveaway in a channel closed to everyone; an ended one is no longer posted to.
    media, staff = channel_named(guild, "media"), channel_named(guild, "welcome")
    for channel_id, state in ((media, GiveawayState.RUNNING), (staff, GiveawayState.ENDED)):
        guild.channels[channel_id].overwrites.append(
            Overwrite(id=guild.id, type=0, deny=int(hikari.Permissions.SEND_MESSAGES))
        )
        await Giveaway.create(
            guild_id=guild.id,
            channel_id=channel_id,
            host_id=bot_id,
            prize="Nitro",
            winner_count=1,
            state=state,
            starts_at=datetime.datetime.now(datetime.UTC),
            ends_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1),
            requirements={},
            claim_window_seconds=3600,
            max_rerolls=2,
            seed="0" * 64,
            seed_hash="1" * 64,
        )
    return guild.id, legend.id, closed


async def test_doctor_reports_a_reward_role_above_the_bot_and_a_channel_it_cannot_post_in(
    sandbox: Sandbox,
    orm: None,
    database_url: str,
    redis_url: str,
    keyspace: Keyspace,
    tmp_path: Path,
) -> None:
    guild_id, role_id, channel_id = await _break_the_guild(sandbox)
    bot_id = sandbox.world.application.bot_user_id

    # The kernel's check, with the real hikari client.
    from townsquare.core.doctor import stored_config

    defaults = load_settings(environ={}, env_file=None).guild_defaults
    app = hikari.RESTApp(url=sandbox.info.rest_url)
    await app.start()
    try:
        async with app.acquire(sandbox.info.bot_token, hikari.TokenType.BOT) as rest:
            health = await guild_health(
                rest, guild_id, bot_id, await stored_config(guild_id, defaults)
            )
    finally:
        await app.close()
    assert not health.ok
    assert [(r.role_id, r.name) for r in health.roles_above] == [(role_id, "Mythic")]
    media = channel_named(demo_guild(sandbox), "media")
    assert [(c.channel_id, c.missing) for c in health.channels] == [
        (channel_id, hikari.Permissions.SEND_MESSAGES),
        (media, hikari.Permissions.SEND_MESSAGES),
    ]

    # The command, as an operator runs it against the running install's database.
    var_dir = tmp_path / "var"
    env = operator_env(
        tmp_path,
        sandbox,
        TOWNSQUARE__PATHS__VAR_DIR=str(var_dir),
        TOWNSQUARE__DATABASE__URL=database_url,
        TOWNSQUARE__REDIS__URL=redis_url,
        TOWNSQUARE__REDIS__NAMESPACE=keyspace.namespace,
        TOWNSQUARE__LOGGING__LEVEL="warning",
    )
    settings = load_settings(environ=env, env_file=None)
    write_sandbox_info(sandbox_info_path(settings), sandbox.info.as_json())
    run = await townsquare("doctor", cwd=tmp_path, env=env)
    assert run.code == 1, run.err
    assert "the bot is in 1 server; 1 needs fixing" in run.out
    assert "move the role @Mythic below @Townsquare" in run.out
    assert "the level 60 reward" in run.out
    assert "Send Messages in #off-topic" in run.out
    assert "levels.notice.channel_id" in run.out
    assert "Send Messages in #media" in run.out
    assert "(Nitro)" in run.out
    assert "#welcome" not in run.out

    # Fixed in Discord (and the bot's role given what the features need): all clear, exit 0.
    guild = sandbox.world.guilds[guild_id]
    guild.channels[channel_id].overwrites.clear()
    guild.channels[media].overwrites.clear()
    guild.roles[role_id].position = 1
    for other in guild.roles.values():
        if other.id not in {role_id, guild_id}:
            other.position += 1
        if other.bot_id == bot_id:
            other.permissions |= int(required_permissions())
    fixed = await townsquare("doctor", cwd=tmp_path, env=env)
    assert fixed.code == 0, fixed.out + fixed.err
    assert f"{guild.name} ({guild_id}): ok" in fixed.out


async def test_init_on_a_terminal_hides_what_is_typed_and_asks_for_the_dashboard_url(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A real terminal (tmux, as the console's test): the prompts are answered by keystrokes;
    the screen never shows the token or the secret."""
    import shlex
    import shutil
    import subprocess

    from tests.support.waiting import wait_until

    tmux = shutil.which("tmux")
    assert tmux, "tmux is needed for the real-terminal test: apt-get install -y tmux"
    socket = tmp_path / "tmux.sock"
    home = tmp_path / "home"

    def run(*args: str, check: bool = True) -> str:
        return subprocess.run(
            [tmux, "-S", str(socket), *args], capture_output=True, text=True, check=check
        ).stdout

    env = operator_env(home, sandbox, TOWNSQUARE__LOGGING__LEVEL="info")
    names = ("PATH", "TOWNSQUARE_HOME", "TOWNSQUARE__DISCORD__REST_URL", "TOWNSQUARE__LOGGING__")
    assignments = " ".join(
        f"{name}={shlex.quote(value)}" for name, value in env.items() if name.startswith(names)
    )
    # The shell keeps the pane open after init exits, so its last screen can be read.
    command = f"env {assignments} {shlex.quote(sys.executable)} -m townsquare.cli init"
    run("new-session", "-d", "-s", "init", "-x", "100", "-y", "40", "-c", str(tmp_path))
    try:
        run("send-keys", "-t", "init", f"{command}; echo END-$?-END", "Enter")

        def screen() -> str:
            return run("capture-pane", "-p", "-J", "-t", "init")

        token = sandbox.info.bot_token
        await wait_until(lambda: "Bot token:" in screen(), within=30, what="the token prompt")
        run("send-keys", "-t", "init", "-l", token)
        run("send-keys", "-t", "init", "Enter")
        await wait_until(lambda: "client secret:" in screen(), within=30, what="the secret prompt")
        run("send-keys", "-t", "init", "-l", "typed-secret")
        run("send-keys", "-t", "init", "Enter")
        await wait_until(lambda: "Dashboard URL" in screen(), within=30, what="the URL prompt")
        run("send-keys", "-t", "init", "-l", "https://typed.example.org")
        run("send-keys", "-t", "init", "Enter")
        ended = re.compile(r"END-(\d+)-END")
        await wait_until(lambda: bool(ended.search(screen())), within=30, what="init to finish")
        final = screen()
    finally:
        run("kill-server", check=False)
    assert "END-0-END" in final, final
    assert token not in final
    assert "typed-secret" not in final
    assert "oauth2/authorize?" in final
    assert "https://typed.example.org" in (home / "townsquare.yaml").read_text()
