"""The crowd: a seeded script of community activity, played into the world at a rate.

`step()` performs one action through the same world functions the control API uses, so every
action emits the gateway events Discord would. For a seed, the script — which kind of action,
by whom, where, with what text — is the same on every run from the same world; clicks target the
newest bot message with a button, so they follow what the bot posted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import logging
import random
import typing

from townsquare.sandbox.crowd import script
from townsquare.sandbox.world.commands import CHAT_INPUT, SUBCOMMAND_TYPES
from townsquare.sandbox.world.interactions import (
    create_command_interaction,
    create_component_interaction,
)
from townsquare.sandbox.world.members import join_guild, leave_guild
from townsquare.sandbox.world.models import ChannelType
from townsquare.sandbox.world.permissions import Permission, channel_permissions
from townsquare.sandbox.world.voice import set_voice_state

if typing.TYPE_CHECKING:
    import datetime

    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Channel, Guild, Member
    from townsquare.sandbox.world.payloads import JSON

__all__ = ["Crowd", "CrowdAction"]

_LOGGER = logging.getLogger(__name__)

_SEND = Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES
_CONNECT = Permission.VIEW_CHANNEL | Permission.CONNECT
_CLICK_SCAN: typing.Final[int] = 5000
"""How many of the newest messages a click looks through for the bot's buttons."""


@dataclasses.dataclass(frozen=True, slots=True)
class CrowdAction:
    """One thing the crowd did."""

    kind: str
    guild_id: int
    user_id: int
    detail: str
    """The text posted, the channel joined, the command used or the button clicked."""

    def as_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "guild_id": str(self.guild_id),
            "user_id": str(self.user_id),
            "detail": self.detail,
        }


@dataclasses.dataclass(slots=True)
class _Burst:
    """A conversation in progress: who talks, where, for how many more messages."""

    guild: Guild
    channel: Channel
    speakers: list[int]
    remaining: int


class Crowd:
    """Plays `step()` `rate` times per second once started; `rate` 0 pauses it."""

    def __init__(self, world: World, *, seed: int, rate: float = 0.0) -> None:
        self.world = world
        self.seed = seed
        self.rate = rate
        self.counts: collections.Counter[str] = collections.Counter()
        self.recent: collections.deque[CrowdAction] = collections.deque(maxlen=1000)
        self._rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not secrets
        self._burst: _Burst | None = None
        self._spamming: tuple[Guild, Channel, int, str, int] | None = None
        self._visitors = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    # ---- running -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sandbox crowd")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            if self.rate <= 0:
                await asyncio.sleep(0.1)
                due = loop.time()
                continue
            try:
                self.step()
            except Exception:
                _LOGGER.exception("the crowd's step failed; it carries on")
            due = max(due + 1 / self.rate, loop.time() - 1.0)  # never more than 1 s behind
            await asyncio.sleep(max(due - loop.time(), 0))

    # ---- the script ----------------------------------------------------------------------

    def step(self) -> CrowdAction | None:
        """Do the next action; None only when the world has no one left to act."""
        if self._spamming is not None and (action := self._continue_spam()) is not None:
            return action
        if self._burst is not None and (action := self._continue_burst()) is not None:
            return action
        kinds, weights = zip(*script.WEIGHTS.items(), strict=True)
        kind = self._rng.choices(kinds, weights)[0]
        action = getattr(self, f"_{kind}")()
        return action if action is not None else self._chat()

    def _record(self, kind: str, guild: Guild, user_id: int, detail: str) -> CrowdAction:
        action = CrowdAction(kind, guild.id, user_id, detail)
        self.counts[kind] += 1
        self.recent.append(action)
        return action

    def _post(
        self, kind: str, guild: Guild, channel: Channel, user_id: int, text: str
    ) -> CrowdAction:
        self.world.create_message(channel, user_id, text)
        return self._record(kind, guild, user_id, text)

    def _chat(self) -> CrowdAction | None:
        picked = self._speaking_place()
        if picked is None:
            return None
        guild, channel, speakers = picked
        count = min(len(speakers), self._rng.randint(2, 4))
        self._burst = _Burst(
            guild, channel, self._rng.sample(speakers, count), self._rng.randint(3, 8)
        )
        return self._continue_burst()

    def _continue_burst(self) -> CrowdAction | None:
        """The conversation's next line; None (and the conversation ends) if the speaker has
        left or been timed out meanwhile."""
        burst = self._burst
        assert burst is not None
        burst.remaining -= 1
        if burst.remaining <= 0:
            self._burst = None
        speaker = self._rng.choice(burst.speakers)
        text = self._rng.choice(script.CHAT_LINES)
        member = burst.guild.members.get(speaker)
        if member is None or _timed_out(member, self.world.clock()):
            self._burst = None
            return None
        return self._post("chat", burst.guild, burst.channel, speaker, text)

    def _spam(self) -> CrowdAction | None:
        picked = self._speaking_place()
        if picked is None:
            return None
        guild, channel, speakers = picked
        line = self._rng.choice(script.SPAM_LINES)
        self._spamming = (guild, channel, self._rng.choice(speakers), line, script.SPAM_REPEATS)
        return self._continue_spam()

    def _continue_spam(self) -> CrowdAction | None:
        """The spammer's next repeat; None once they are banned, kicked or timed out."""
        assert self._spamming is not None
        guild, channel, spammer, line, remaining = self._spamming
        self._spamming = (guild, channel, spammer, line, remaining - 1) if remaining > 1 else None
        member = guild.members.get(spammer)
        if member is None or _timed_out(member, self.world.clock()):
            self._spamming = None
            return None
        return self._post("spam", guild, channel, spammer, line)

    def _link(self) -> CrowdAction | None:
        return self._one_liner("link", self._rng.choice(script.LINKS))

    def _banned_word(self) -> CrowdAction | None:
        word = self._rng.choice(script.BANNED_WORDS)
        return self._one_liner("banned_word", f"oh {word}, I missed the event")

    def _one_liner(self, kind: str, text: str) -> CrowdAction | None:
        picked = self._speaking_place()
        if picked is None:
            return None
        guild, channel, speakers = picked
        return self._post(kind, guild, channel, self._rng.choice(speakers), text)

    def _voice_join(self) -> CrowdAction | None:
        guild = self._guild()
        rooms = [
            c
            for c in _sorted(guild.channels)
            if c.type is ChannelType.GUILD_VOICE and c.id != guild.afk_channel_id
        ]
        if not rooms:
            return None
        room = self._rng.choice(rooms)
        inside = sum(1 for v in guild.voice_states.values() if v.channel_id == room.id)
        if room.user_limit and inside >= room.user_limit:
            return None
        idle = [
            m
            for m in self._people(guild)
            if m.user_id not in guild.voice_states
            and channel_permissions(guild, room, m) & _CONNECT == _CONNECT
        ]
        if not idle:
            return None
        member = self._rng.choice(idle)
        set_voice_state(self.world, guild, member, room, self_mute=False, self_deaf=False)
        return self._record("voice_join", guild, member.user_id, room.name)

    def _voice_mute(self) -> CrowdAction | None:
        guild, member = self._in_voice()
        if member is None:
            return None
        state = guild.voice_states[member.user_id]
        room = guild.channels[state.channel_id or 0]
        set_voice_state(self.world, guild, member, room, self_mute=not state.self_mute)
        return self._record(
            "voice_mute", guild, member.user_id, "mute" if state.self_mute else "unmute"
        )

    def _voice_leave(self) -> CrowdAction | None:
        guild, member = self._in_voice()
        if member is None:
            return None
        set_voice_state(self.world, guild, member, None)
        return self._record("voice_leave", guild, member.user_id, "")

    def _member_join(self) -> CrowdAction | None:
        guild = self._guild()
        username = f"visitor-{next(self._visitors)}"
        user = self.world.user_named(username) or self.world.create_user(username)
        if user.id in guild.members or user.id in guild.bans:
            return None
        join_guild(self.world, guild, user)
        return self._record("member_join", guild, user.id, username)

    def _member_leave(self) -> CrowdAction | None:
        guild = self._guild()
        plain = [m for m in self._people(guild) if not m.role_ids]
        if not plain:
            return None
        member = self._rng.choice(plain)
        leave_guild(self.world, guild, member)
        return self._record("member_leave", guild, member.user_id, "")

    def _command(self) -> CrowdAction | None:
        picked = self._speaking_place(Permission.USE_APPLICATION_COMMANDS)
        if picked is None:
            return None
        guild, channel, speakers = picked
        # Members use the commands that need no options (as Discord's client would send them,
        # a command with a subcommand or a required option is never invoked bare).
        registered = sorted(
            name
            for scope in (guild.id, None)
            for (kind, name), command in self.world.commands.get(scope, {}).items()
            if kind == CHAT_INPUT and not any(_needed(option) for option in command.options)
        )
        name = self._rng.choice(registered or list(script.COMMANDS))
        user_id = self._rng.choice(speakers)
        create_command_interaction(
            self.world, guild, channel, user_id=user_id, name=name, options=[]
        )
        return self._record("command", guild, user_id, name)

    def _click(self) -> CrowdAction | None:
        bot_id = self.world.application.bot_user_id
        newest = itertools.islice(reversed(self.world.messages.values()), _CLICK_SCAN)
        for message in newest:
            guild = self.world.guilds.get(message.guild_id or 0)
            if message.author_id != bot_id or guild is None or message.ephemeral:
                continue
            buttons = [
                c
                for row in message.components
                for c in row.get("components", [])
                if c.get("type") == 2 and c.get("style") != 5 and not c.get("disabled")
            ]
            people = [m.user_id for m in self._people(guild)]
            if not buttons or not people:
                continue
            button, user_id = self._rng.choice(buttons), self._rng.choice(people)
            create_component_interaction(
                self.world, guild, message, user_id=user_id, component=button
            )
            return self._record("click", guild, user_id, str(button.get("custom_id")))
        return None

    # ---- choosing ------------------------------------------------------------------------

    def _guild(self) -> Guild:
        return self.world.guilds[self._rng.choice(sorted(self.world.guilds))]

    def _people(self, guild: Guild) -> list[Member]:
        """Members who are people (not the bot, not the owner), in a stable order."""
        bot_id = self.world.application.bot_user_id
        return [
            guild.members[u] for u in sorted(guild.members) if u not in {bot_id, guild.owner_id}
        ]

    def _speaking_place(self, extra: int = 0) -> tuple[Guild, Channel, list[int]] | None:
        """A text channel and the people who may post in it now (not timed out)."""
        guild = self._guild()
        rooms = [c for c in _sorted(guild.channels) if c.type is ChannelType.GUILD_TEXT]
        if not rooms:
            return None
        room = self._rng.choice(rooms)
        now = self.world.clock()
        needed = _SEND | extra
        speakers = [
            m.user_id
            for m in self._people(guild)
            if channel_permissions(guild, room, m) & needed == needed and not _timed_out(m, now)
        ]
        return (guild, room, speakers) if speakers else None

    def _in_voice(self) -> tuple[Guild, Member | None]:
        guild = self._guild()
        talking = [m for m in self._people(guild) if m.user_id in guild.voice_states]
        return guild, (self._rng.choice(talking) if talking else None)


def _sorted(channels: dict[int, Channel]) -> list[Channel]:
    return [channels[c] for c in sorted(channels)]


def _timed_out(member: Member, now: datetime.datetime) -> bool:
    until = member.communication_disabled_until
    return until is not None and until > now


def _needed(option: JSON) -> bool:
    """Whether a command cannot be used without this option: a subcommand (group) or a
    required option."""
    return option.get("type") in SUBCOMMAND_TYPES or bool(option.get("required"))
