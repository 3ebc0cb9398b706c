"""The seeded world: scenario shape, determinism and permission rules."""

from __future__ import annotations

import datetime
import importlib.resources
import typing

import pytest

from townsquare.sandbox.world import build_world, load_scenario
from townsquare.sandbox.world.models import ChannelType
from townsquare.sandbox.world.permissions import (
    Permission,
    channel_permissions,
    guild_permissions,
    top_role_position,
)

if typing.TYPE_CHECKING:
    from pathlib import Path


def fixed_clock() -> datetime.datetime:
    return datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def test_demo_scenario_shape() -> None:
    world = build_world(load_scenario("demo"), clock=fixed_clock)
    [guild] = world.guilds.values()
    assert guild.name == "Town Square Demo"
    assert 45 <= len(guild.members) <= 60
    kinds = {c.type for c in guild.channels.values()}
    assert kinds == {ChannelType.GUILD_TEXT, ChannelType.GUILD_VOICE, ChannelType.GUILD_CATEGORY}
    assert guild.afk_channel_id is not None
    assert guild.channels[guild.afk_channel_id].type is ChannelType.GUILD_VOICE
    roles = {r.name: r for r in guild.roles.values()}
    bot_role = roles["Townsquare"]
    assert bot_role.bot_id == world.application.bot_user_id
    assert roles["Moderator"].position > bot_role.position
    levels = [r for r in roles.values() if r.name.startswith("Level")]
    assert len(levels) == 4
    assert all(r.position < bot_role.position for r in levels)
    moderators = [m for m in guild.members.values() if roles["Moderator"].id in m.role_ids]
    assert len(moderators) >= 2


def test_ids_are_deterministic() -> None:
    first = build_world(load_scenario("demo"), clock=fixed_clock)
    second = build_world(load_scenario("demo"), clock=fixed_clock)
    assert first.application == second.application
    assert list(first.guilds) == list(second.guilds)
    assert list(first.users) == list(second.users)
    [guild] = first.guilds.values()
    assert [c.id for c in guild.channels.values()] == [
        c.id for c in next(iter(second.guilds.values())).channels.values()
    ]
    assert first.snowflakes.next() == second.snowflakes.next()


def test_permissions_follow_roles_and_overwrites() -> None:
    world = build_world(load_scenario("demo"), clock=fixed_clock)
    [guild] = world.guilds.values()
    by_name = {world.users[m].username: member for m, member in guild.members.items()}
    channels = {c.name: c for c in guild.channels.values()}
    plain, moderator, bot = by_name["alder"], by_name["ada"], by_name["townsquare"]
    assert not guild_permissions(guild, plain) & Permission.MANAGE_ROLES
    assert guild_permissions(guild, bot) & Permission.MANAGE_ROLES
    assert not channel_permissions(guild, channels["mod-log"], plain) & Permission.VIEW_CHANNEL
    assert channel_permissions(guild, channels["mod-log"], moderator) & Permission.VIEW_CHANNEL
    assert not channel_permissions(guild, channels["rules"], plain) & Permission.SEND_MESSAGES
    assert top_role_position(guild, moderator) > top_role_position(guild, bot)
    assert guild_permissions(guild, by_name["mayor"]) & Permission.ADMINISTRATOR


def test_unknown_scenario_is_named() -> None:
    with pytest.raises(ValueError, match="no shipped sandbox scenario named 'nope'"):
        load_scenario("nope")


def test_scenario_with_unknown_role_names_it(tmp_path: Path) -> None:
    text = (importlib.resources.files("townsquare.sandbox") / "scenarios" / "demo.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("wren: [level-5]", "wren: [level-99]"))
    with pytest.raises(ValueError, match="unknown role 'level-99'"):
        build_world(load_scenario(broken), clock=fixed_clock)
