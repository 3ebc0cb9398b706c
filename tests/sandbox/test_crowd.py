"""The simulated crowd: a seeded script, played through the world into the real hikari client."""

from __future__ import annotations

import typing

import hikari

from tests.support.sandbox import EventRecorder, Live, make_bot
from tests.support.world import channel_named, demo_guild
from townsquare.sandbox import Sandbox
from townsquare.sandbox.crowd import BANNED_WORDS, WEIGHTS, Crowd
from townsquare.sandbox.world.commands import overwrite_commands

if typing.TYPE_CHECKING:
    import aiohttp


def script_of(seed: int, steps: int) -> list[tuple[str, str, str]]:
    """(kind, username, detail) of the first `steps` actions of a fresh demo world's crowd."""
    sandbox = Sandbox()
    world = sandbox.world
    guild = demo_guild(sandbox)
    buttons = [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "poll:yes"}]}]
    world.create_message(
        guild.channels[channel_named(guild, "general")],
        world.application.bot_user_id,
        "Poll!",
        components=buttons,
    )
    crowd = Crowd(world, seed=seed)
    actions = [crowd.step() for _ in range(steps)]
    return [(a.kind, world.users[a.user_id].username, a.detail) for a in actions if a is not None]


def test_the_script_is_deterministic_for_a_seed_and_covers_every_kind() -> None:
    first, again, other = script_of(7, 1500), script_of(7, 1500), script_of(8, 1500)
    assert first == again
    assert first != other
    assert len(first) == 1500
    kinds = {kind for kind, _, _ in first}
    assert kinds == set(WEIGHTS)
    spam = [i for i, (kind, _, _) in enumerate(first) if kind == "spam"]
    # Spam comes as five identical lines in a row from one member.
    start = spam[0]
    assert len({first[i] for i in range(start, start + 5)}) == 1
    banned = [detail for kind, _, detail in first if kind == "banned_word"]
    assert all(any(word in line for word in BANNED_WORDS) for line in banned)
    assert any("https://" in detail for kind, _, detail in first if kind == "link")
    clicks = {detail for kind, _, detail in first if kind == "click"}
    assert clicks == {"poll:yes"}


def test_the_crowd_uses_only_commands_that_need_no_options() -> None:
    """Discord's client never sends `/ban` without its member or `/xp` without a subcommand."""
    sandbox = Sandbox()
    world = sandbox.world
    guild = demo_guild(sandbox)
    user = {"type": 6, "name": "member", "description": "who", "required": True}
    subcommand = {"type": 1, "name": "show", "description": "show"}
    optional = {"type": 3, "name": "note", "description": "why", "required": False}
    overwrite_commands(
        world,
        guild.id,
        [
            {"type": 1, "name": "rank", "description": "rank", "options": [optional]},
            {"type": 1, "name": "ban", "description": "ban", "options": [user]},
            {"type": 1, "name": "xp", "description": "xp", "options": [subcommand]},
        ],
    )
    crowd = Crowd(world, seed=3)
    used = {a.detail for a in (crowd.step() for _ in range(600)) if a and a.kind == "command"}
    assert used == {"rank"}


async def test_crowd_steps_arrive_as_hikari_events(live: Live) -> None:
    await live.recorder.wait_for(hikari.GuildAvailableEvent)
    async with live.http.post(f"{live.info.control_url}/crowd", json={"steps": 300}) as response:
        assert response.status == 200
        played = (await response.json())["played"]
    kinds = [a["kind"] for a in played]
    posted = sum(kinds.count(k) for k in ("chat", "spam", "link", "banned_word"))
    await live.recorder.wait_for(hikari.GuildMessageCreateEvent, count=posted)
    await live.recorder.wait_for(hikari.InteractionCreateEvent, count=kinds.count("command"))
    await live.recorder.wait_for(hikari.MemberCreateEvent, count=kinds.count("member_join"))
    voice = sum(kinds.count(k) for k in ("voice_join", "voice_mute", "voice_leave"))
    # Members leaving while in voice add a disconnect each.
    assert len(await live.recorder.wait_for(hikari.VoiceStateUpdateEvent, count=voice)) >= voice
    async with live.http.get(f"{live.info.control_url}/crowd") as response:
        state = await response.json()
    assert sum(state["counts"].values()) == len(played)
    assert state["seed"] == 0


async def test_crowd_plays_at_its_rate_until_paused(http: aiohttp.ClientSession) -> None:
    recorder = EventRecorder()
    sandbox = Sandbox(crowd_rate=200, seed=3)
    async with sandbox as info:
        client = make_bot(info)
        client.subscribe(hikari.GuildMessageCreateEvent, recorder.record)
        await client.start(check_for_updates=False)
        try:
            await recorder.wait_for(hikari.GuildMessageCreateEvent, count=50)
            async with http.post(f"{info.control_url}/crowd", json={"rate": 0}) as response:
                assert (await response.json())["rate"] == 0
            async with http.post(f"{info.control_url}/crowd", json={"rate": -1}) as response:
                assert response.status == 400
        finally:
            await client.close()
    assert sandbox.crowd.counts["chat"] > 0
