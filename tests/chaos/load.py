"""The features in use while faults fly: the crowd (chat for XP and level-ups, spam, links
and banned words for automod, voice, joins, clicks), giveaways started by the owner and
entered by members, questions to the assistant, and the sandbox's streamers going live.

The guild's voice XP is off: it depends on wall-clock minutes, so no exact reference exists
(docs/reliability.md says so); message XP has one (`tests.support.xp.reference_totals`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
import typing

from tests.chaos.cards import watch_streams
from tests.support.discord import Discord
from townsquare.core.audit.service import Actor
from townsquare.core.config.service import load_guild_config, update_guild_config
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayPick, PickOutcome
from townsquare.features.giveaways.domain.render import (
    CLAIM,
    ENTER,
    announcement_marker,
    custom_id,
)

if typing.TYPE_CHECKING:
    from tests.chaos.cards import SeenStream
    from tests.chaos.system import System
    from townsquare.sandbox.world.models import Message

__all__ = ["BANNED_WORDS", "LEVEL_XP", "Activity", "configure_guild"]

BANNED_WORDS: typing.Final = ["frick", "dang", "heck"]
"""The crowd's banned words (`townsquare/sandbox/crowd/script.py`)."""

LEVEL_XP: typing.Final = 40
"""The guild's linear level curve: XP per level (two or three counted messages)."""
ENTRANTS: typing.Final = ("alder", "bryony", "cedar", "dorian", "elsie", "fern", "gale", "hazel")
QUESTIONS: typing.Final = (
    "What are the rules about links?",
    "Where do videos go?",
    "Is spam allowed here?",
)


async def configure_guild(system: System) -> None:
    """The demo guild: voice XP off, a level every LEVEL_XP, the crowd's banned words, the
    assistant on."""
    guild_id = system.guild_id
    await ensure_guild(guild_id)
    defaults = system.settings.guild_defaults
    current = await load_guild_config(guild_id, defaults)
    document = defaults.model_dump(mode="json")
    document["xp"]["voice"]["enabled"] = False
    # Levels every LEVEL_XP, so a few minutes of crowd make level-ups (notices, reward roles).
    document["xp"]["curve"] = {"kind": "linear", "linear_step": LEVEL_XP, "table": []}
    document["moderation"]["automod"]["banned_words"] = BANNED_WORDS
    document["ai"]["enabled"] = True
    await update_guild_config(
        guild_id,
        type(defaults).model_validate(document),
        expected_version=current.version,
        actor=Actor.system("chaos"),
        defaults=defaults,
    )


@dataclasses.dataclass
class Activity:
    """The driver's own use of the features, beside the crowd."""

    system: System
    seed: int
    giveaway_commands: list[int] = dataclasses.field(default_factory=list)
    """Interaction ids of `/giveaway start`."""
    questions: list[int] = dataclasses.field(default_factory=list)
    """Interaction ids of `/ask`."""
    entries: int = 0
    claims: bool = False
    """Winners claim (in odd-numbered giveaways; the even ones' wins expire and are rerolled):
    the giveaways get a 30 s claim window and one reroll per slot."""
    giveaway_ids: dict[int, int] = dataclasses.field(default_factory=dict)
    """Giveaway id -> its number in this run."""
    claim_clicks: dict[tuple[int, int], int] = dataclasses.field(default_factory=dict)
    """(giveaway id, pick position) -> the interaction id of the winner's Claim click."""
    streams: dict[str, SeenStream] = dataclasses.field(default_factory=dict)
    """The Twitch and Kick streams seen live (`tests.chaos.cards`)."""
    stopped_at: float = 0.0
    """When the driver stopped (epoch seconds)."""
    _tasks: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)
    _claimer: asyncio.Task[None] | None = None

    @property
    def discord(self) -> Discord:
        return Discord(self.system.sandbox, self.system.http)

    async def start(self, crowd_rate: float, *, giveaway_every: float, ask_every: float) -> None:
        await self.system.control("POST", "/crowd", {"rate": crowd_rate})
        self.system.sandbox.platforms.start_demo()
        self._tasks = [
            asyncio.create_task(self._every(giveaway_every, self._giveaway)),
            asyncio.create_task(self._every(ask_every, self._ask)),
            asyncio.create_task(watch_streams(self.system, self.streams)),
        ]
        if self.claims:
            self._claimer = asyncio.create_task(self._every(2.0, self._claim))

    async def stop_claims(self) -> None:
        """Winners stop claiming (they go on through the drain, as the draws do)."""
        if self._claimer is not None:
            self._claimer.cancel()
            await asyncio.gather(self._claimer, return_exceptions=True)

    async def stop(self) -> None:
        """Pause the crowd and the driver's own use, but for the winners' claims (the drain
        follows)."""
        await self.system.control("POST", "/crowd", {"rate": 0})
        self.stopped_at = time.time()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _every(
        self, seconds: float, action: typing.Callable[[], typing.Awaitable[None]]
    ) -> None:
        while True:
            with contextlib.suppress(Exception):  # a command during an outage may not answer
                await action()
            await asyncio.sleep(seconds)

    async def _giveaway(self) -> None:
        number = len(self.giveaway_commands) + 1
        prize = f"Chaos prize {number}"
        options: dict[str, object] = {"prize": prize, "duration": "15s"}
        if self.claims:
            options |= {"claim-window": "30s", "max-rerolls": 1}
        interaction = await self.discord.use("mayor", "/giveaway start", **options)
        self.giveaway_commands.append(interaction)
        posted = await self._posted(prize)
        if posted is None:
            return
        message, giveaway_id = posted
        self.giveaway_ids[giveaway_id] = number
        rng = random.Random(self.seed * 1000 + number)
        for user in rng.sample(ENTRANTS, 4):
            status, _ = await self.discord.click(user, message, custom_id(ENTER, giveaway_id))
            self.entries += status == 200

    async def _posted(self, prize: str) -> tuple[Message, int] | None:
        """The giveaway's message and id once posted (None after 10 s: an outage)."""
        world = self.system.sandbox.world
        for _ in range(50):
            giveaway = await Giveaway.filter(prize=prize).first()
            if giveaway is not None and giveaway.message_id in world.messages:
                return world.messages[giveaway.message_id], giveaway.id
            await asyncio.sleep(0.2)
        return None

    async def _claim(self) -> None:
        """Each pending winner of an odd-numbered giveaway presses Claim on the announcement
        of their draw, once."""
        claiming = [g for g, number in self.giveaway_ids.items() if number % 2]
        picks = await GiveawayPick.filter(
            giveaway_id__in=claiming, outcome=PickOutcome.PENDING
        ).values_list("giveaway_id", "position", "user_id")
        world = self.system.sandbox.world
        for giveaway_id, position, user_id in picks:
            marker = announcement_marker(giveaway_id, position)
            posted = next(
                (p.message_id for p in self.system.bot_posts if p.content.endswith(marker)), None
            )
            user = world.users.get(user_id)
            if (giveaway_id, position) in self.claim_clicks or posted is None or user is None:
                continue
            status, interaction = await self.discord.click(
                user.username, world.messages[posted], custom_id(CLAIM, giveaway_id)
            )
            if status == 200 and interaction is not None:
                self.claim_clicks[giveaway_id, position] = interaction

    async def _ask(self) -> None:
        rng = random.Random(self.seed * 7919 + len(self.questions))
        interaction = await self.discord.use(
            rng.choice(ENTRANTS), "/ask", question=rng.choice(QUESTIONS)
        )
        self.questions.append(interaction)
