"""Application commands and interaction follow-ups with the real hikari client."""

from __future__ import annotations

import asyncio
import datetime
import typing

import hikari
import pytest

from tests.support.sandbox import Live, control, use_command
from tests.support.waiting import wait_until
from tests.support.world import channel_named, demo_guild, user_named
from townsquare.sandbox import Sandbox

if typing.TYPE_CHECKING:
    import aiohttp


async def test_bulk_overwrite_of_global_and_guild_commands(live: Live) -> None:
    guild = live.guild
    rest = live.bot.rest
    rank = rest.slash_command_builder("rank", "Show a member's level").add_option(
        hikari.CommandOption(type=hikari.OptionType.USER, name="user", description="Whose rank")
    )
    first = await rest.set_application_commands(
        live.info.application_id, [rank, rest.slash_command_builder("top", "The leaderboard")]
    )
    assert {c.name for c in first} == {"rank", "top"}
    ids = {c.name: c.id for c in first}
    # Overwriting again keeps the id of a command that stays, drops the others.
    again = await rest.set_application_commands(live.info.application_id, [rank])
    assert [(c.name, c.id) for c in again] == [("rank", ids["rank"])]
    fetched = await rest.fetch_application_commands(live.info.application_id)
    assert [c.name for c in fetched] == ["rank"]
    [command] = fetched
    assert isinstance(command, hikari.SlashCommand)
    assert command.options is not None and command.options[0].name == "user"

    report = rest.context_menu_command_builder(hikari.CommandType.USER, "Report member")
    [guild_command] = await rest.set_application_commands(
        live.info.application_id, [report], guild=guild.id
    )
    assert guild_command.guild_id == guild.id
    assert guild_command.type is hikari.CommandType.USER
    assert [
        c.id for c in await rest.fetch_application_commands(live.info.application_id, guild.id)
    ] == [guild_command.id]

    # A used command carries the registered id.
    wren = live.user("wren")
    channel = live.channel("bot-commands")
    await live.use(wren, "rank", channel)
    [event] = await live.recorder.wait_for(hikari.InteractionCreateEvent)
    assert isinstance(event.interaction, hikari.CommandInteraction)
    assert event.interaction.command_id == ids["rank"]

    with pytest.raises(hikari.BadRequestError) as caught:
        await rest.set_application_commands(
            live.info.application_id, [rest.slash_command_builder("Not Valid", "Upper case")]
        )
    assert caught.value.code == 50035
    with pytest.raises(hikari.BadRequestError):
        await rest.set_application_commands(live.info.application_id, [rank, rank])
    assert [c.name for c in await rest.fetch_application_commands(live.info.application_id)] == [
        "rank"
    ]


async def test_deferred_response_follow_ups_and_original_edits(live: Live) -> None:
    channel = live.channel("bot-commands")
    wren = live.user("wren")
    done: list[hikari.Message] = []

    async def answer(event: hikari.InteractionCreateEvent) -> None:
        interaction = event.interaction
        assert isinstance(interaction, hikari.CommandInteraction)
        await interaction.create_initial_response(hikari.ResponseType.DEFERRED_MESSAGE_CREATE)
        original = await interaction.edit_initial_response("Your rank: 12")
        follow_up = await interaction.execute("Also: you are on a streak")
        edited = await interaction.edit_message(follow_up, "Also: a 3-day streak")
        fetched = await interaction.fetch_initial_response()
        hidden = await interaction.execute("Only you see this", flags=hikari.MessageFlag.EPHEMERAL)
        await interaction.delete_initial_response()
        done.extend([original, follow_up, edited, fetched, hidden])

    live.bot.subscribe(hikari.InteractionCreateEvent, answer)
    await live.use(wren, "rank", channel)
    await live.recorder.wait_for(
        hikari.GuildMessageDeleteEvent, lambda e: bool(done) and e.message_id == done[0].id
    )
    original, follow_up, edited, fetched, hidden = done
    assert original.content == "Your rank: 12"
    assert original.type is hikari.MessageType.CHAT_INPUT
    assert fetched.id == original.id
    assert edited.id == follow_up.id and edited.content == "Also: a 3-day streak"
    assert hidden.flags & hikari.MessageFlag.EPHEMERAL
    created = {e.message_id for e in live.recorder.of(hikari.GuildMessageCreateEvent)}
    assert {original.id, follow_up.id} <= created
    assert hidden.id not in created  # ephemeral messages are not announced
    assert original.id not in live.sandbox.world.messages
    assert live.sandbox.world.messages[follow_up.id].content == "Also: a 3-day streak"
    record = live.sandbox.world.interactions[next(iter(live.sandbox.world.interactions))]
    assert record.followup_message_ids == [follow_up.id, hidden.id]


async def test_interaction_token_expires_after_fifteen_minutes(http: aiohttp.ClientSession) -> None:
    now = [datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)]
    sandbox = Sandbox(clock=lambda: now[0])
    async with sandbox as info:
        channel = str(channel_named(demo_guild(sandbox), "general"))
        user = str(user_named(sandbox, "wren"))
        used = await use_command(http, info, channel_id=channel, user_id=user, name="rank")
        rest_app = hikari.RESTApp(url=info.rest_url)
        await rest_app.start()
        try:
            async with rest_app.acquire(info.bot_token, hikari.TokenType.BOT) as rest:
                with pytest.raises(hikari.NotFoundError):  # no initial response yet
                    await rest.execute_webhook(info.application_id, used["token"], "early")
                await rest.create_interaction_response(
                    int(used["id"]), used["token"], hikari.ResponseType.MESSAGE_CREATE, "pong"
                )
                now[0] += datetime.timedelta(minutes=14)
                await rest.execute_webhook(info.application_id, used["token"], "in time")
                now[0] += datetime.timedelta(minutes=2)
                with pytest.raises(hikari.UnauthorizedError) as caught:
                    await rest.execute_webhook(info.application_id, used["token"], "too late")
                assert caught.value.code == 50027
                with pytest.raises(hikari.UnauthorizedError):
                    await rest.edit_interaction_response(
                        info.application_id, used["token"], "too late"
                    )
        finally:
            await rest_app.close()


async def test_component_click_with_deferred_update(live: Live) -> None:
    row = live.bot.rest.build_message_action_row().add_interactive_button(
        hikari.ButtonStyle.SUCCESS, "giveaway:enter", label="Enter"
    )
    message = await live.bot.rest.create_message(
        live.channel("general"), "Giveaway!", component=row
    )

    async def answer(event: hikari.InteractionCreateEvent) -> None:
        assert isinstance(event.interaction, hikari.ComponentInteraction)
        await event.interaction.create_initial_response(hikari.ResponseType.DEFERRED_MESSAGE_UPDATE)
        await event.interaction.edit_initial_response("Giveaway! 1 entry")

    live.bot.subscribe(hikari.InteractionCreateEvent, answer)
    body = {
        "message_id": str(message.id),
        "user_id": str(live.user("wren")),
        "custom_id": "giveaway:enter",
    }
    await control(live.http, live.info, "POST", "/interactions/components", body)
    [update] = await live.recorder.wait_for(
        hikari.GuildMessageUpdateEvent, lambda e: e.message_id == message.id
    )
    assert update.content == "Giveaway! 1 entry"


async def test_component_click_in_a_dm_has_no_guild(live: Live) -> None:
    wren, cedar = live.user("wren"), live.user("cedar")
    dm = await live.bot.rest.create_dm_channel(wren)
    row = live.bot.rest.build_message_action_row().add_interactive_button(
        hikari.ButtonStyle.SUCCESS, "prize:claim", label="Claim"
    )
    message = await live.bot.rest.create_message(dm, "You won!", component=row)
    answered: list[hikari.Message] = []

    async def answer(event: hikari.InteractionCreateEvent) -> None:
        assert isinstance(event.interaction, hikari.ComponentInteraction)
        await event.interaction.create_initial_response(
            hikari.ResponseType.MESSAGE_CREATE, "Claimed", flags=hikari.MessageFlag.EPHEMERAL
        )
        answered.append(await event.interaction.fetch_initial_response())

    live.bot.subscribe(hikari.InteractionCreateEvent, answer)
    click = {"message_id": str(message.id), "custom_id": "prize:claim"}
    url = f"{live.info.control_url}/interactions/components"
    async with live.http.post(url, json=click | {"user_id": str(cedar)}) as refused:
        assert refused.status == 400, "only the DM's recipient can click in it"
    used = await control(
        live.http, live.info, "POST", "/interactions/components", click | {"user_id": str(wren)}
    )
    [event] = await live.recorder.wait_for(hikari.InteractionCreateEvent)
    interaction = event.interaction
    assert isinstance(interaction, hikari.ComponentInteraction)
    assert interaction.guild_id is None and interaction.member is None
    assert interaction.user.id == wren and interaction.user.username == "wren"
    assert interaction.channel.id == dm.id and interaction.channel.type is hikari.ChannelType.DM
    assert interaction.context is hikari.ApplicationContextType.BOT_DM
    assert interaction.app_permissions & hikari.Permissions.EMBED_LINKS
    assert interaction.message.id == message.id
    assert interaction.guild_locale is None
    raw = live.sandbox.world.interactions[int(used["id"])]
    assert raw.guild_id is None
    await wait_until(lambda: bool(answered), within=10, what="the bot's answer")
    [reply] = answered
    assert reply.content == "Claimed" and reply.channel_id == dm.id
    assert live.sandbox.world.messages[reply.id].ephemeral


async def test_slash_command_options_carry_resolved_entities(live: Live) -> None:
    wren, general = live.user("wren"), live.channel("general")
    level_5 = live.role("Level 5 · Newcomer")
    options = [
        {
            "name": "give",
            "type": 1,
            "options": [
                {"name": "member", "type": 6, "value": str(wren)},
                {"name": "where", "type": 7, "value": str(general)},
                {"name": "role", "type": 8, "value": str(level_5)},
            ],
        }
    ]
    await live.use(wren, "reward", general, options=options)
    [event] = await live.recorder.wait_for(hikari.InteractionCreateEvent)
    interaction = event.interaction
    assert isinstance(interaction, hikari.CommandInteraction)
    [sub] = interaction.options
    assert sub.name == "give"
    assert sub.options is not None and [o.value for o in sub.options] == [wren, general, level_5]
    resolved = interaction.resolved
    assert resolved is not None
    assert resolved.users[wren].username == "wren"
    assert resolved.members[wren].permissions & hikari.Permissions.SEND_MESSAGES
    assert level_5 in resolved.members[wren].role_ids
    assert resolved.roles[level_5].name == "Level 5 · Newcomer"
    assert resolved.channels[general].name == "general"
    assert resolved.channels[general].type is hikari.ChannelType.GUILD_TEXT


async def test_modal_opened_submitted_and_answered(live: Live) -> None:
    channel = live.channel("bot-commands")
    wren = live.user("wren")
    modal_opened = asyncio.Event()

    async def answer(event: hikari.InteractionCreateEvent) -> None:
        interaction = event.interaction
        if isinstance(interaction, hikari.CommandInteraction):
            row = live.bot.rest.build_modal_action_row().add_text_input(
                "reason", "Why?", style=hikari.TextInputStyle.PARAGRAPH, max_length=200
            )
            await interaction.create_modal_response("Report a member", "report", component=row)
            modal_opened.set()
        elif isinstance(interaction, hikari.ModalInteraction):
            [row] = interaction.components
            [field] = row.components
            assert isinstance(field, hikari.TextInputComponent)
            await interaction.create_initial_response(
                hikari.ResponseType.MESSAGE_CREATE, f"Report filed: {field.value}"
            )

    live.bot.subscribe(hikari.InteractionCreateEvent, answer)
    used = await live.use(wren, "report", channel)
    submit = f"{live.info.control_url}/interactions/modals"
    await asyncio.wait_for(modal_opened.wait(), timeout=10)
    assert live.sandbox.world.interactions[int(used["id"])].response_type == 9
    async with live.http.post(
        submit, json={"interaction_id": used["id"], "values": {}}
    ) as response:
        assert response.status == 400  # the reason is required
    body = {"interaction_id": used["id"], "values": {"reason": "spam links"}}
    async with live.http.post(submit, json=body) as response:
        assert response.status == 200, await response.text()
        submitted = await response.json()
    [event] = await live.recorder.wait_for(
        hikari.InteractionCreateEvent, lambda e: e.interaction.id == int(submitted["id"])
    )
    modal = event.interaction
    assert isinstance(modal, hikari.ModalInteraction)
    assert modal.custom_id == "report"
    assert modal.member is not None and modal.member.id == wren
    await live.recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: e.content == "Report filed: spam links"
    )


async def test_autocomplete_is_answered_with_choices(live: Live) -> None:
    channel = live.channel("bot-commands")
    wren = live.user("wren")
    answered = asyncio.Event()

    async def suggest(event: hikari.InteractionCreateEvent) -> None:
        interaction = event.interaction
        assert isinstance(interaction, hikari.AutocompleteInteraction)
        focused = next(o for o in interaction.options if o.is_focused)
        giveaways = ["Pizza party", "Nitro", "Sticker pack"]
        await interaction.create_response(
            [
                hikari.impl.AutocompleteChoiceBuilder(name=g, value=g)
                for g in giveaways
                if str(focused.value).lower() in g.lower()
            ]
        )
        answered.set()

    live.bot.subscribe(hikari.InteractionCreateEvent, suggest)
    options = [{"name": "prize", "type": 3, "value": "pi", "focused": True}]
    used = await live.use(wren, "giveaway", channel, options=options, autocomplete=True)
    [event] = await live.recorder.wait_for(hikari.InteractionCreateEvent)
    assert event.interaction.type is hikari.InteractionType.AUTOCOMPLETE
    await asyncio.wait_for(answered.wait(), timeout=10)
    record = live.sandbox.world.interactions[int(used["id"])]
    assert record.response_type == 8
    assert record.response_data == {"choices": [{"name": "Pizza party", "value": "Pizza party"}]}
    async with live.http.post(
        f"{live.info.control_url}/interactions",
        json={"channel_id": str(channel), "user_id": str(wren), "name": "x", "autocomplete": True},
    ) as response:
        assert response.status == 400  # no focused option
