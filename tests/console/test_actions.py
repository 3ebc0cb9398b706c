"""Operator actions from the console: confirmed in a modal, carried out, audited."""

from __future__ import annotations

import datetime
import getpass
import typing
import uuid

import pytest
from textual.widgets import DataTable, Input, Static

from tests.support.console import add_dead_letter, cells, column, open_table, tab_key, until
from tests.support.workers import running_worker, settings_with
from townsquare.console import ConsoleApp
from townsquare.console.modals import ConfirmScreen, TextScreen
from townsquare.console.panes import DeadLettersPane
from townsquare.core.audit.models import ActorKind, AuditEntry
from townsquare.core.guilds.models import Guild
from townsquare.features.premium.console import GrantScreen, PremiumPane
from townsquare.features.premium.domain.models import (
    PremiumSource,
    PremiumSubscription,
    PremiumTier,
)
from townsquare.tasks import load_tasks
from townsquare.tasks.health import PING_TASK

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from textual.pilot import Pilot

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("orm")]

REFRESH = 0.1
GUILD = 81_384_788_765_712_384


def _app(redis_url: str, database_url: str, keyspace: Keyspace) -> ConsoleApp:
    return ConsoleApp(redis_url, database_url, keyspace, refresh_seconds=REFRESH)


async def _open_dead_letters(pilot: Pilot[typing.Any], rows: int) -> DataTable[typing.Any]:
    return await open_table(pilot, "3", DeadLettersPane, rows=rows, what=f"{rows} dead letters")


async def _answer(pilot: Pilot[typing.Any], key: str) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="confirmation")
    await pilot.press(key)
    await until(
        pilot, lambda: not isinstance(pilot.app.screen, ConfirmScreen), what="dialog closed"
    )


async def test_a_dead_letter_is_listed_and_inspected(
    redis_url: str, database_url: str, keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    entry_id = await add_dead_letter(
        redis, keyspace, "jobs", "giveaways.end", 42, error=LookupError("giveaway 42 is gone")
    )
    app = _app(redis_url, database_url, keyspace)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _open_dead_letters(pilot, 1)
        [row] = cells(table)
        assert row[column(table, "Pipe")] == "jobs"
        assert row[column(table, "Id")] == entry_id
        assert row[column(table, "Task")] == "giveaways.end"
        assert row[column(table, "Try")] == "3"
        assert row[column(table, "Error")] == "LookupError: giveaway 42 is gone"
        detail = str(app.query_one("#dead-detail", Static).render())
        assert "args      [\n  42\n]" in detail
        assert "test_actions.py" not in detail  # the traceback is the support module's
        assert "support/console.py" in detail

        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, TextScreen), what="inspector")
        assert "giveaway 42 is gone" in str(app.screen.query_one(".body Static", Static).render())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TextScreen), what="closed")


async def test_replaying_a_dead_letter_gets_it_processed_by_a_real_worker(
    redis_url: str, database_url: str, keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    token = uuid.uuid4().hex
    entry_id = await add_dead_letter(redis, keyspace, "jobs", PING_TASK, token)
    app = _app(redis_url, database_url, keyspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_dead_letters(pilot, 1)
        await pilot.press("r")
        await _answer(pilot, "y")
        table = app.query_one(DeadLettersPane).query_one(DataTable)
        await until(pilot, lambda: table.row_count == 0, what="dead letter gone")
        assert await redis.xlen(keyspace.key("dead_letter", "jobs")) == 0
        assert await redis.xlen(keyspace.key("stream", "jobs")) == 1

        async def pinged() -> bool:
            return await redis.get(keyspace.key("ping", token)) == b"1"

        async with running_worker(settings_with(), redis_url, keyspace, load_tasks()):
            await until(pilot, pinged, within=20, what="the replayed ping ran")

    [entry] = await AuditEntry.filter(action="dead_letter.replay")
    assert entry.actor_kind is ActorKind.OPERATOR
    assert entry.actor_name == getpass.getuser()
    assert entry.target == f"jobs {entry_id}"
    assert entry.before["task_name"] == PING_TASK
    assert entry.after["stream_id"]


async def test_dropping_and_replaying_all_ask_first_and_are_audited(
    redis_url: str, database_url: str, keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    for index in range(3):
        await add_dead_letter(redis, keyspace, "xp", "xp.award", index)
    dropped = await add_dead_letter(redis, keyspace, "ai", "ai.answer", "hello")
    app = _app(redis_url, database_url, keyspace)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _open_dead_letters(pilot, 4)
        assert cells(table)[0][column(table, "Id")] == dropped  # newest first

        await pilot.press("d")
        await _answer(pilot, "n")  # declined: nothing changes
        await pilot.press("d")
        await _answer(pilot, "y")
        await until(pilot, lambda: table.row_count == 3, what="dropped")
        assert await redis.xlen(keyspace.key("dead_letter", "ai")) == 0
        assert await redis.xlen(keyspace.key("stream", "ai")) == 0

        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert "Replay all 3 dead letters of xp" in str(
            app.screen.query_one(".question", Static).render()
        )
        await _answer(pilot, "y")
        await until(pilot, lambda: table.row_count == 0, what="all replayed")
    assert await redis.xlen(keyspace.key("stream", "xp")) == 3
    assert await AuditEntry.filter(action="dead_letter.drop").count() == 1
    assert await AuditEntry.filter(action="dead_letter.replay").count() == 3


async def _fill_grant_form(pilot: Pilot[typing.Any], *values: str) -> None:
    """Type short values key by key; long ids are pasted (a key press costs a frame)."""
    await until(pilot, lambda: isinstance(pilot.app.screen, GrantScreen), what="form")
    inputs = list(pilot.app.screen.query(Input).results())
    editable = [field for field in inputs if not field.disabled]
    for field, value in zip(editable, values, strict=True):
        field.focus()
        field.value = "" if len(value) <= 5 else value
        if len(value) <= 5:
            await pilot.press(*value)
    await pilot.press("enter")


@pytest.mark.long
async def test_granting_premium_writes_the_row_and_the_audit_entry(
    redis_url: str, database_url: str, keyspace: Keyspace
) -> None:
    app = _app(redis_url, database_url, keyspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(tab_key(pilot, "premium"))
        table = app.query_one(PremiumPane).query_one(DataTable)
        await until(pilot, lambda: app.readings > 0, what="first reading")
        await pilot.press("g")
        await _fill_grant_form(pilot, "12x", "pro", "30")
        # A bad guild id is explained in the form, which stays open.
        assert isinstance(app.screen, GrantScreen)
        assert "guild id must be" in str(app.screen.query_one("#error", Static).render())
        await _fill_grant_form(pilot, str(GUILD), "pro", "30")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert f"Grant pro to guild {GUILD} for 30 days?" in str(
            app.screen.query_one(".question", Static).render()
        )
        await _answer(pilot, "y")
        await until(pilot, lambda: table.row_count == 1, what="the granted guild listed")
        assert cells(table)[0][column(table, "Tier")] == "pro"

    [row] = await PremiumSubscription.filter(guild_id=GUILD)
    assert row.tier == PremiumTier.PRO and row.source is PremiumSource.MANUAL
    assert row.expires_at is not None
    assert abs(row.expires_at - row.starts_at - datetime.timedelta(days=30)) < datetime.timedelta(
        seconds=1
    )
    [entry] = await AuditEntry.filter(action="premium.grant")
    assert entry.guild_id == GUILD  # type: ignore[attr-defined]
    assert entry.actor_kind is ActorKind.OPERATOR
    assert entry.actor_name == getpass.getuser()
    assert entry.after["tier"] == "pro"


async def test_extending_and_revoking_premium_are_confirmed_and_audited(
    redis_url: str, database_url: str, keyspace: Keyspace
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    await Guild.create(id=GUILD, name="Town")
    ends = now + datetime.timedelta(days=3)
    await PremiumSubscription.create(
        guild_id=GUILD,
        tier=PremiumTier.PLUS,
        source=PremiumSource.MANUAL,
        starts_at=now - datetime.timedelta(days=27),
        expires_at=ends,
    )
    app = _app(redis_url, database_url, keyspace)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_table(
            pilot, tab_key(pilot, "premium"), PremiumPane, rows=1, what="the guild listed"
        )

        await pilot.press("e")
        await _fill_grant_form(pilot, "10")
        await _answer(pilot, "y")

        async def extended() -> bool:
            row = await PremiumSubscription.get(guild_id=GUILD)
            return row.expires_at == ends + datetime.timedelta(days=10)

        await until(pilot, extended, what="extended by 10 days")

        await pilot.press("v")
        await _answer(pilot, "y")
        await until(pilot, lambda: table.row_count == 0, what="revoked guild gone from the list")

    row = await PremiumSubscription.get(guild_id=GUILD)
    assert row.revoked_at is not None
    actions = [entry.action for entry in await AuditEntry.filter(guild_id=GUILD).order_by("id")]
    assert actions == ["premium.extend", "premium.revoke"]
