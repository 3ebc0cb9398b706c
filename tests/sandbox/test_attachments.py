"""Files on messages: multipart uploads from hikari, attachments, and the sandbox's CDN."""

from __future__ import annotations

import io
import typing

import hikari
import pytest

from tests.support.sandbox import Live
from tests.support.world import channel_named, demo_guild

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.sandbox import EventRecorder
    from townsquare.sandbox import Sandbox, SandboxInfo

CARD = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # a stand-in rank card


async def test_message_with_files_edit_and_cdn(
    bot: hikari.GatewayBot,
    sandbox: Sandbox,
    recorder: EventRecorder,
    http: aiohttp.ClientSession,
) -> None:
    general = channel_named(demo_guild(sandbox), "general")
    message = await bot.rest.create_message(
        general,
        "Your rank card",
        attachments=[hikari.Bytes(CARD, "rank.png"), hikari.Bytes(b"level,10", "stats.csv")],
    )
    card, stats = message.attachments
    assert (card.filename, card.size) == ("rank.png", len(CARD))
    assert stats.filename == "stats.csv"
    async with http.get(card.url) as response:
        assert response.status == 200
        assert await response.read() == CARD
    [created] = await recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: e.message_id == message.id
    )
    assert [a.filename for a in created.message.attachments] == ["rank.png", "stats.csv"]

    # An edit that lists only the card keeps it and drops the rest; a new file is added.
    edited = await bot.rest.edit_message(
        general, message, attachments=[card, hikari.Bytes(b"new", "note.txt")]
    )
    assert [a.filename for a in edited.attachments] == ["rank.png", "note.txt"]
    assert edited.attachments[0].id == card.id
    only_files = await bot.rest.create_message(general, attachment=hikari.Bytes(b"x", "x.txt"))
    assert not only_files.content  # hikari reads "" as None
    assert len(only_files.attachments) == 1


async def test_interaction_reply_and_follow_up_with_files(live: Live) -> None:
    channel = live.channel("bot-commands")
    wren = live.user("wren")
    sent: list[hikari.Message] = []

    async def answer(event: hikari.InteractionCreateEvent) -> None:
        interaction = event.interaction
        assert isinstance(interaction, hikari.CommandInteraction)
        await interaction.create_initial_response(
            hikari.ResponseType.MESSAGE_CREATE, "Here:", attachment=hikari.Bytes(CARD, "rank.png")
        )
        sent.append(await interaction.fetch_initial_response())
        sent.append(await interaction.execute(attachment=hikari.Bytes(b"more", "more.txt")))

    live.bot.subscribe(hikari.InteractionCreateEvent, answer)
    await live.use(wren, "rank", channel)
    await live.recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: len(sent) == 2 and e.message_id == sent[1].id
    )
    original, follow_up = sent
    assert [a.filename for a in original.attachments] == ["rank.png"]
    assert [a.filename for a in follow_up.attachments] == ["more.txt"]


async def test_attachment_limits(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession
) -> None:
    import aiohttp as client

    url = f"{info.rest_url}/channels/{channel_named(demo_guild(sandbox), 'general')}/messages"
    headers = {"Authorization": f"Bot {info.bot_token}"}
    form = client.FormData()
    form.add_field("payload_json", '{"content": "big"}', content_type="application/json")
    big = io.BytesIO(b"x" * (10 * 1024 * 1024 + 1))
    form.add_field("files[0]", big, filename="big.bin", content_type="application/octet-stream")
    async with http.post(url, data=form, headers=headers) as response:
        assert response.status == 413
        assert (await response.json())["code"] == 40005
    async with http.get(f"{info.rest_url.removesuffix('/api/v10')}/attachments/1/2/x") as response:
        assert response.status == 404


@pytest.mark.parametrize("payload", ["not json", "[]"])
async def test_bad_payload_json_is_refused(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession, payload: str
) -> None:
    import aiohttp as client

    url = f"{info.rest_url}/channels/{channel_named(demo_guild(sandbox), 'general')}/messages"
    form = client.FormData()
    form.add_field("payload_json", payload, content_type="application/json")
    form.add_field("files[0]", io.BytesIO(b"x"), filename="x.txt", content_type="text/plain")
    headers = {"Authorization": f"Bot {info.bot_token}"}
    async with http.post(url, data=form, headers=headers) as response:
        assert response.status == 400
        assert (await response.json())["code"] == 50109
