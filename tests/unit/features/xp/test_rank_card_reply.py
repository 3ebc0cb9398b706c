"""`/rank`'s reply on Discord (a PNG attachment) and where files cannot go (an embed).

The sandbox takes no multipart bodies, so the end-to-end tests see the embed; here the
handler runs against a fake arc context and a fake internal API to show the attachment path.
"""

from __future__ import annotations

import dataclasses
import io
import types
import typing

import hikari
from PIL import Image

from townsquare.core.config.schemas import GuildConfig
from townsquare.core.keyspace import Keyspace
from townsquare.core.settings import load_settings
from townsquare.features.xp.commands import rank
from townsquare.features.xp.domain.config import LevelCurve
from townsquare.features.xp.domain.curve import Curve
from townsquare.features.xp.domain.rank_card import CARD_SIZE, rank_card_for
from townsquare.features.xp.domain.wire import MemberRank
from townsquare.shards.api_client import InternalAPIClient
from townsquare.shards.commands.services import CommandServices

CURVE = Curve(LevelCurve(kind="mee6", linear_step=100, table=[]), 100)
GUILD, ADA, HARPER = 1001, 2002, 3003


TOTALS = {ADA: 300, HARPER: 1500}


class FakeAPI(InternalAPIClient):
    """The internal API's `/rank` answer, computed from :data:`TOTALS` on :data:`CURVE`."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", "unused")

    async def request(self, method: str, path: str, **_: typing.Any) -> dict[str, typing.Any]:
        assert method == "GET"
        guild_id, user_id = (int(part) for part in path.split("/")[2::2])
        return (await self.member_rank(guild_id, user_id)).model_dump(mode="json")

    async def member_rank(self, guild_id: int, user_id: int) -> MemberRank:
        assert guild_id == GUILD
        xp = TOTALS.get(user_id, 0)
        rank = 1 + sum(1 for m, x in TOTALS.items() if (-x, m) < (-xp, user_id))
        card = rank_card_for("", xp, rank, CURVE)
        return MemberRank(
            user_id=user_id,
            xp=xp,
            level=card.level,
            rank=rank,
            ranked=len(TOTALS),
            level_start_xp=card.level_start_xp,
            next_level_xp=card.next_level_xp,
        )


@dataclasses.dataclass
class FakeMember:
    display_name: str


@dataclasses.dataclass
class FakeUser:
    id: hikari.Snowflake
    username: str
    global_name: str | None = None

    def make_avatar_url(self, **_: object) -> None:
        return None  # no custom avatar: the card gets the placeholder


@dataclasses.dataclass
class FakeContext:
    """The parts of `arc.GatewayContext` the handler and `answer` use."""

    user: FakeUser
    member: FakeMember | None
    guild_id: int = GUILD
    issued_response: bool = False
    sent: list[dict[str, typing.Any]] = dataclasses.field(default_factory=list)

    @property
    def interaction(self) -> typing.Any:
        return types.SimpleNamespace(resolved=None)

    async def respond(self, **fields: typing.Any) -> None:
        self.issued_response = True
        self.sent.append(fields)


class FakeServices(CommandServices):
    __slots__ = ()

    async def guild_config(self, guild_id: int) -> GuildConfig:
        assert guild_id == GUILD
        return self.guild_defaults


def services(*, attachments: bool) -> FakeServices:
    return FakeServices(
        typing.cast("typing.Any", None),  # the config check is faked; the rest is the API
        Keyspace("unit"),
        load_settings(environ={}, env_file=None).guild_defaults,
        attachments=attachments,
        fetch_avatars=True,
        api=FakeAPI(),
    )


async def run_rank(attachments: bool) -> dict[str, typing.Any]:
    ctx = FakeContext(FakeUser(hikari.Snowflake(ADA), "ada"), FakeMember("Ada L."))
    await rank.rank_command.callback(
        typing.cast("typing.Any", ctx), None, services=services(attachments=attachments)
    )
    [fields] = ctx.sent
    return fields


async def test_on_discord_the_reply_is_the_png_card() -> None:
    fields = await run_rank(attachments=True)
    attachment = fields["attachment"]
    assert isinstance(attachment, hikari.Bytes)
    assert attachment.filename == rank.CARD_FILE_NAME
    image = Image.open(io.BytesIO(await attachment.read()))
    assert (image.format, image.size) == ("PNG", CARD_SIZE)
    assert fields["embed"] is hikari.UNDEFINED
    assert fields["flags"] is hikari.UNDEFINED  # public


async def test_without_attachments_the_reply_is_an_embed() -> None:
    fields = await run_rank(attachments=False)
    embed = fields["embed"]
    assert fields["attachment"] is hikari.UNDEFINED
    assert embed.title == "Ada L."
    assert [(f.name, f.value) for f in embed.fields] == [
        ("Rank", "#2"),
        ("Level", "2"),
        ("XP", "300"),
    ]


def test_rank_embed_at_the_maximum_level() -> None:
    top = Curve(LevelCurve(kind="linear", linear_step=10, table=[]), 3)
    embed = rank.rank_embed(rank_card_for("Ada", 500, 1, top), ADA)
    assert embed.description == f"<@{ADA}>\n" + "▰" * 12 + "\n500 XP (max level)"
