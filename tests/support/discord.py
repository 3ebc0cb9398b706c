"""The slash-command driver for end-to-end tests (a pytest plugin: fixture `discord`).

A member uses a command in the sandbox as Discord's client would, and the test gets the bot's
answer:

    answer = await discord.run("mayor", "/xp set", member=alder, amount=1150)
    assert answer.ephemeral
    done = await discord.press("mayor", answer, "Confirm")

It drives the sandbox's control API (`POST /interactions`, `POST /interactions/components`)
and reads the answer from the sandbox's world. Options are typed from the command the bot
registered (its guild's commands first, then the global ones), so the bot must have registered
the command (the driver waits for that); users, roles, channels and mentionables are sent as
ids, everything else as given. A Python keyword stands for the option of the same name, or with
`-` for `_` (`page_size` finds `page-size`).
"""

from __future__ import annotations

import dataclasses
import typing

import pytest

from tests.support.sandbox import WAIT, control
from tests.support.waiting import wait_until
from tests.support.world import channel_named, demo_guild, user_named

if typing.TYPE_CHECKING:
    import aiohttp

    from townsquare.sandbox import Sandbox
    from townsquare.sandbox.world.models import Guild, Interaction, Message

__all__ = ["DEFERRED", "Answer", "Discord"]

DEFERRED: typing.Final = 5
"""Response type DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: the bot said "thinking..." first."""
_CHAT_INPUT: typing.Final = 1
_SUBCOMMANDS: typing.Final = frozenset({1, 2})
"""SUB_COMMAND and SUB_COMMAND_GROUP option types."""
_ID_TYPES: typing.Final = frozenset({6, 7, 8, 9})
"""USER, CHANNEL, ROLE, MENTIONABLE: sent as snowflake strings."""


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """The bot's answer to one interaction: the interaction as the sandbox recorded it and the
    message holding the answer (live: a later edit shows)."""

    sandbox: Sandbox
    interaction: Interaction
    message: Message

    @property
    def content(self) -> str:
        return self.message.content

    @property
    def embeds(self) -> list[dict[str, typing.Any]]:
        return self.message.embeds

    @property
    def components(self) -> list[dict[str, typing.Any]]:
        return self.message.components

    @property
    def attachments(self) -> list[dict[str, typing.Any]]:
        return self.message.attachments

    @property
    def ephemeral(self) -> bool:
        return self.message.ephemeral

    @property
    def deferred(self) -> bool:
        """The bot deferred first and filled the answer in later."""
        return self.interaction.response_type == DEFERRED

    @property
    def buttons(self) -> dict[str, str]:
        """Label -> custom_id of the message's buttons."""
        return {
            button["label"]: button["custom_id"]
            for row in self.message.components
            for button in row["components"]
            if "label" in button and "custom_id" in button
        }

    def file(self, filename: str) -> tuple[str, bytes]:
        """The content type and bytes of the attachment called `filename`."""
        [attachment] = [a for a in self.attachments if a["filename"] == filename]
        return self.sandbox.world.attachment_files[int(attachment["id"])]


class Discord:
    """Members of the sandbox's demo guild using the bot's slash commands and buttons."""

    def __init__(
        self, sandbox: Sandbox, http: aiohttp.ClientSession, *, channel: str = "bot-commands"
    ) -> None:
        self.sandbox = sandbox
        self.http = http
        self.channel_id = channel_named(demo_guild(sandbox), channel)

    @property
    def guild(self) -> Guild:
        """The demo guild, where the members use the commands."""
        return demo_guild(self.sandbox)

    def user(self, username: str) -> int:
        """The id of the member with that username."""
        return user_named(self.sandbox, username)

    async def run(self, user: str, command: str, /, **options: object) -> Answer:
        """`user` uses `command` ("/xp set") with `options`; the bot's answer."""
        return await self.answer(await self.use(user, command, **options))

    async def use(self, user: str, command: str, /, **options: object) -> int:
        """`user` uses `command` with `options`; the interaction id (for a test that reads
        the answer later, or never)."""
        name, *path = command.removeprefix("/").split()
        body = {
            "channel_id": str(self.channel_id),
            "user_id": str(user_named(self.sandbox, user)),
            "name": name,
            "options": await self._options(name, path, options),
        }
        used = await control(self.http, self.sandbox.info, "POST", "/interactions", body)
        return int(used["id"])

    async def answer(self, interaction_id: int) -> Answer:
        """The bot's answer to the interaction, once it has one: the response message, or the
        latest follow-up when the response was deferred."""
        world = self.sandbox.world

        def answered() -> bool:
            interaction = world.interactions[interaction_id]
            return interaction.response_message_id is not None or bool(
                interaction.followup_message_ids
            )

        await wait_until(answered, within=WAIT, what=f"an answer to interaction {interaction_id}")
        interaction = world.interactions[interaction_id]
        message_id = interaction.response_message_id or interaction.followup_message_ids[-1]
        return Answer(self.sandbox, interaction, world.messages[message_id])

    async def click(self, user: str, message: Message, custom_id: str) -> tuple[int, int | None]:
        """`user` clicks a component; the control API's status and the interaction id (None
        when the click was refused, e.g. 404 for a button that is gone)."""
        body = {
            "message_id": str(message.id),
            "user_id": str(user_named(self.sandbox, user)),
            "custom_id": custom_id,
        }
        url = f"{self.sandbox.info.control_url}/interactions/components"
        async with self.http.post(url, json=body) as response:
            if response.status != 200:
                return response.status, None
            return response.status, int((await response.json())["id"])

    async def press(self, user: str, answer: Answer, label: str) -> Answer:
        """`user` presses the button labelled `label` on `answer`; the bot's answer to the
        click (for an update of the message, the message itself)."""
        buttons = answer.buttons
        assert label in buttons, f"no button {label!r} on the answer, only {sorted(buttons)}"
        status, interaction_id = await self.click(user, answer.message, buttons[label])
        assert status == 200 and interaction_id is not None, f"click refused: {status}"
        return await self.answer(interaction_id)

    async def _options(
        self, name: str, path: list[str], values: dict[str, object]
    ) -> list[dict[str, object]]:
        """The interaction's options for `/name path...` with `values`, typed as registered."""
        declared = await self._registered(name)
        nested: list[dict[str, object]] = []
        innermost = nested
        for part in path:
            sub = next(
                (o for o in declared if o["name"] == part and o["type"] in _SUBCOMMANDS), None
            )
            assert sub is not None, f"/{name} has no subcommand {part!r}"
            level: list[dict[str, object]] = []
            innermost.append({"name": part, "type": sub["type"], "options": level})
            innermost, declared = level, sub.get("options", [])
        by_name = {o["name"]: o for o in declared if o["type"] not in _SUBCOMMANDS}
        for key, value in values.items():
            option = by_name.get(key) or by_name.get(key.replace("_", "-"))
            assert option is not None, f"/{name} {' '.join(path)} has no option {key!r}"
            sent = str(value) if option["type"] in _ID_TYPES else value
            innermost.append({"name": option["name"], "type": option["type"], "value": sent})
        return nested

    async def _registered(self, name: str) -> list[dict[str, typing.Any]]:
        """The options of the chat-input command `name` the bot registered (waiting for the
        registration: the bot writes its commands once it has started)."""
        world = self.sandbox.world
        guild_id = demo_guild(self.sandbox).id

        def command() -> typing.Any:
            for scope in (guild_id, None):
                found = world.commands.get(scope, {}).get((_CHAT_INPUT, name))
                if found is not None:
                    return found
            return None

        await wait_until(lambda: command() is not None, within=WAIT, what=f"/{name} registered")
        return list(command().options)


@pytest.fixture
def discord(sandbox: Sandbox, http: aiohttp.ClientSession) -> Discord:
    """The slash-command driver for the test's sandbox, in #bot-commands."""
    return Discord(sandbox, http)
