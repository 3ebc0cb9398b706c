"""The operator console: a live view of shards, queues, dead letters, the features' panes
(premium, ...) and alerts.

One refresh worker reads everything every `refresh_seconds` (Redis with non-blocking commands;
each feature pane reads its own data, PostgreSQL for premium) and hands plain values to the
panes; a tick that finds the previous reading still running skips instead of piling up. Writes
happen only for confirmed operator actions, each in its own worker, and each is audited with
the OS user as an `operator` actor. The feature panes are the enabled features' (`PANES` of
their `console` modules, see :class:`~townsquare.console.panes.feature.FeaturePane`).
"""

from __future__ import annotations

import dataclasses
import datetime
import getpass
import typing

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import DataTable, Footer, Header, TabbedContent, TabPane
from tortoise.context import TortoiseContext, get_current_context

from townsquare.console import data
from townsquare.console.panes import (
    AlertAcknowledged,
    AlertsPane,
    DeadLetterAction,
    DeadLettersPane,
    QueuesPane,
    ShardsPane,
)
from townsquare.console.panes.feature import ConsoleContext, FeaturePane
from townsquare.core import dead_letters
from townsquare.core.alerts import acknowledge_alert
from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor
from townsquare.core.db import tortoise_config
from townsquare.core.features import adapter_modules, pipeline_names
from townsquare.core.redis_client import connect_redis

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

    import redis.asyncio as aioredis
    from textual.app import ComposeResult
    from textual.worker import Worker

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = ["ConsoleApp", "Snapshot", "operator", "run_console"]

DEAD_LETTERS_SHOWN = 200
"""Dead letters listed per pipeline (newest first); the counts cover all of them."""
REDIS_TIMEOUT = 5.0
"""Seconds a Redis connect or command may take before the reading reports an error."""


def operator() -> Actor:
    """The person at the console, as the audit log names them: the OS user."""
    try:
        name = getpass.getuser()
    except OSError:
        name = "unknown"
    return Actor(ActorKind.OPERATOR, None, name)


@dataclasses.dataclass(slots=True)
class Snapshot:
    """One reading of everything the console shows; a part that failed carries its error."""

    redis_now: datetime.datetime
    shards: list[data.ShardHealth] = dataclasses.field(default_factory=list)
    queues: list[data.QueueStats] = dataclasses.field(default_factory=list)
    dead_letters: list[dead_letters.DeadLetter] = dataclasses.field(default_factory=list)
    dead_letter_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    features: dict[str, typing.Any] = dataclasses.field(default_factory=dict)
    """Each feature pane's reading, by its tab id."""
    alerts: list[data.Alert] = dataclasses.field(default_factory=list)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)


def _newest_first(letter: dead_letters.DeadLetter) -> tuple[float, int, int]:
    """Across pipelines by failure time (ids are per stream), then by id."""
    millis, _, sequence = letter.entry_id.partition("-")
    failed = letter.failed_at.timestamp() if letter.failed_at else 0.0
    return (-failed, -int(millis or 0), -int(sequence or 0))


class _Database:
    """The ORM connection: the caller's when it has one (tests, a host process), else ours."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._owned: TortoiseContext | None = None

    async def open(self) -> None:
        current = get_current_context()
        if current is not None and current.inited:
            return
        context = TortoiseContext()
        # No connection is made here (pools open on first query); the global fallback lets
        # every worker task see this context, whatever context it was started from.
        with context:  # tortoise looks the context up while it initialises the models
            await context.init(
                config=tortoise_config(self.url, pool_max=2), _enable_global_fallback=True
            )
        self._owned = context

    async def close(self) -> None:
        if self._owned is not None:
            await self._owned.close_connections()
            self._owned = None


class ConsoleApp(App[None]):
    """The Textual console. Construct it with the URLs and keyspace, then run it."""

    CSS_PATH = "console.tcss"
    TITLE = "Townsquare console"
    BINDINGS: typing.ClassVar = [
        Binding("1", "show_tab('shards')", "Shards", show=False),
        Binding("2", "show_tab('queues')", "Queues", show=False),
        Binding("3", "show_tab('dead')", "Dead", show=False),
        # 4 and on: the feature panes, then the alerts (bound in __init__).
        Binding("ctrl+r", "refresh_now", "Refresh", show=False),
        Binding("q", "quit", "Quit"),
        # Operators expect Ctrl-C to stop `townsquare up`, whose foreground this app is.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    snapshot: reactive[Snapshot | None] = reactive(None, always_update=True, init=False)
    """The latest reading; setting it updates every pane."""

    def __init__(
        self,
        redis_url: str,
        database_url: str,
        keyspace: Keyspace,
        refresh_seconds: float = 1.0,
        *,
        stream_maxlen: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.stream_maxlen = dict(stream_maxlen or {})
        """Per pipeline, the approximate cap a replay applies to the stream (as producers do)."""
        self.redis_url = redis_url
        self.keyspace = keyspace
        self.refresh_seconds = refresh_seconds
        self.actor = operator()
        self.readings = 0
        """How many readings have been shown, so tests can wait for a fresh one."""
        self._database = _Database(database_url)
        self._redis: aioredis.Redis | None = None
        self._refresh: Worker[None] | None = None
        self._trend = data.Trend()
        self._rates = data.RateMeter()
        self.pane_types: list[type[FeaturePane[typing.Any]]] = [
            pane for module in adapter_modules("console") for pane in module.PANES
        ]
        """The enabled features' panes, in feature order (tabs 4, 5, ...)."""
        for number, (tab, title) in enumerate(self._feature_tabs(), start=4):
            self.bind(str(number), f"show_tab('{tab}')", description=title, show=False)

    def _feature_tabs(self) -> list[tuple[str, str]]:
        """(tab id, title) of the feature panes and then the alerts, numbered from 4."""
        return [(pane.TAB_ID, pane.TITLE) for pane in self.pane_types] + [("alerts", "Alerts")]

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="shards"):
            with TabPane("1 Shards", id="shards"):
                yield ShardsPane(id="shards-pane")
            with TabPane("2 Queues", id="queues"):
                yield QueuesPane(id="queues-pane")
            with TabPane("3 Dead letters", id="dead"):
                yield DeadLettersPane(id="dead-pane")
            for number, pane in enumerate(self.pane_types, start=4):
                with TabPane(f"{number} {pane.TITLE}", id=pane.TAB_ID):
                    yield pane(id=f"{pane.TAB_ID}-pane")
            with TabPane(f"{4 + len(self.pane_types)} Alerts", id="alerts"):
                yield AlertsPane(id="alerts-pane")
        yield Footer()

    @property
    def context(self) -> ConsoleContext:
        """What feature panes use: Redis, the keyspace, the operator, a refresh."""
        assert self._redis is not None, "the console is not mounted"
        return ConsoleContext(self._redis, self.keyspace, self.actor, self._tick)

    def feature_panes(self) -> list[FeaturePane[typing.Any]]:
        """The mounted feature panes, in tab order."""
        return [self.query_one(f"#{pane.TAB_ID}-pane", pane) for pane in self.pane_types]

    async def on_mount(self) -> None:
        self.sub_title = f"{self.keyspace.namespace} as {self.actor.name}"
        # Bounded waits: an unreachable Redis shows as an error instead of a frozen reading.
        self._redis = connect_redis(
            self.redis_url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
        )
        await self._database.open()
        self.query_one(ShardsPane).query_one(DataTable).focus()
        self.set_interval(self.refresh_seconds, self._tick)
        self._tick()

    async def on_unmount(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        if self._redis is not None:
            await self._redis.aclose()
        await self._database.close()

    def _tick(self) -> None:
        if self._refresh is None or self._refresh.is_finished:
            self._refresh = self.refresh_data()

    def action_refresh_now(self) -> None:
        self._tick()

    def action_show_tab(self, tab: str) -> None:
        """Switch to `tab` and put the keyboard on its table, where its bindings work."""
        self.query_one(TabbedContent).active = tab
        tables = self.query_one(f"#{tab}", TabPane).query(DataTable)
        if tables:
            tables.first().focus()

    @work(exclusive=True, group="refresh", exit_on_error=False)
    async def refresh_data(self) -> None:
        """Read everything once and show it."""
        self.snapshot = await self.read_snapshot()

    async def read_snapshot(self) -> Snapshot:
        """One reading; Redis and PostgreSQL are read independently, so one can fail alone."""
        snapshot = Snapshot(datetime.datetime.now(datetime.UTC))
        try:
            await self._read_redis(snapshot)
        except Exception as error:
            snapshot.errors["redis"] = f"Redis unreachable: {error}"
        context = self.context
        for pane in self.feature_panes():
            try:
                snapshot.features[pane.TAB_ID] = await pane.read(context)
            except Exception as error:
                snapshot.errors[pane.TAB_ID] = f"{pane.TITLE} read failed: {error}"
        return snapshot

    async def _read_redis(self, snapshot: Snapshot) -> None:
        assert self._redis is not None
        redis, keyspace = self._redis, self.keyspace
        # Stream ids carry the Redis server's clock: ages of messages are measured on it.
        snapshot.redis_now = now = await data.redis_now(redis)
        snapshot.shards = await data.read_shards(
            redis, keyspace, datetime.datetime.now(datetime.UTC)
        )
        snapshot.queues = await data.read_queues(redis, keyspace, now)
        snapshot.alerts = await data.read_alerts(redis, keyspace)
        for pipeline in pipeline_names():
            snapshot.dead_letters += await dead_letters.list_dead_letters(
                redis, keyspace, pipeline, count=DEAD_LETTERS_SHOWN
            )
        snapshot.dead_letters.sort(key=_newest_first)
        snapshot.dead_letter_counts = {q.pipeline: q.dead_letters for q in snapshot.queues}

    def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        """Record the reading's rates and hand it to the panes.

        When Redis could not be read, its panes keep the last values and the header says why.
        """
        if snapshot is None:
            return
        if "redis" not in snapshot.errors:
            self._show_redis(snapshot)
        for pane in self.feature_panes():
            if pane.TAB_ID in snapshot.features:
                pane.show(snapshot.features[pane.TAB_ID])
            elif pane.TAB_ID in snapshot.errors:
                pane.show_error(snapshot.errors[pane.TAB_ID])
        self.sub_title = f"{self.keyspace.namespace} as {self.actor.name}" + (
            f"  {snapshot.errors['redis']}" if "redis" in snapshot.errors else ""
        )
        self.readings += 1

    def _show_redis(self, snapshot: Snapshot) -> None:
        total = 0.0
        series = {"shards total"}
        for shard in snapshot.shards:
            rate = shard.events_per_second or 0.0
            total += rate
            series.add(name := f"shard {shard.shard_id}")
            self._trend.push(name, rate)
        self._trend.push("shards total", total)
        rates: dict[str, tuple[float | None, float | None]] = {}
        for queue in snapshot.queues:
            at = snapshot.redis_now
            if not queue.exists:
                rates[queue.pipeline] = (None, None)
                continue
            rate_in = self._rates.rate(f"in {queue.pipeline}", queue.entries_added, at)
            rate_out = self._rates.rate(f"out {queue.pipeline}", queue.entries_read, at)
            rates[queue.pipeline] = (rate_in, rate_out)
            series.add(name := f"queue {queue.pipeline}")
            if rate_out is not None:
                self._trend.push(name, rate_out)
        self._trend.keep_only(series)
        self.query_one(ShardsPane).show(snapshot.shards, self._trend)
        self.query_one(QueuesPane).show(snapshot.queues, rates, self._trend)
        self.query_one(DeadLettersPane).show(snapshot.dead_letters, snapshot.dead_letter_counts)
        self.query_one(AlertsPane).show(snapshot.alerts, snapshot.redis_now)

    def on_alert_acknowledged(self, message: AlertAcknowledged) -> None:
        self.acknowledge_alert(message.alert_id)

    @work(group="actions", exit_on_error=False)
    async def acknowledge_alert(self, alert_id: str) -> None:
        assert self._redis is not None
        try:
            await acknowledge_alert(self._redis, self.keyspace, alert_id)
        except Exception as error:
            self.notify(f"acknowledge failed: {error}", severity="error", timeout=10)
        else:
            self.notify(f"Acknowledged alert {alert_id}")
        self._tick()

    def on_dead_letter_action(self, message: DeadLetterAction) -> None:
        self.run_dead_letter_action(message.kind, message.pipeline, message.entry_id)

    # Actions are not exclusive: a second action must never cancel a write in progress.
    @work(group="actions", exit_on_error=False)
    async def run_dead_letter_action(self, kind: str, pipeline: str, entry_id: str | None) -> None:
        assert self._redis is not None
        maxlen = self.stream_maxlen.get(pipeline)
        try:
            if kind == "replay_all":
                replayed = await dead_letters.replay_all_dead_letters(
                    self._redis, self.keyspace, pipeline, maxlen=maxlen, actor=self.actor
                )
                self.notify(f"Replayed {len(replayed)} dead letters of {pipeline}")
            elif kind == "replay" and entry_id is not None:
                new_id = await dead_letters.replay_dead_letter(
                    self._redis, self.keyspace, pipeline, entry_id, maxlen=maxlen, actor=self.actor
                )
                self.notify(
                    f"Replayed {pipeline} {entry_id} as {new_id}"
                    if new_id
                    else f"{pipeline} {entry_id} was already gone",
                    severity="information" if new_id else "warning",
                )
            elif kind == "drop" and entry_id is not None:
                dropped = await dead_letters.drop_dead_letter(
                    self._redis, self.keyspace, pipeline, entry_id, actor=self.actor
                )
                self.notify(
                    f"Dropped {pipeline} {entry_id}"
                    if dropped
                    else f"{pipeline} {entry_id} was already gone",
                    severity="information" if dropped else "warning",
                )
        except Exception as error:
            self.notify(f"{kind} failed: {error}", severity="error", timeout=10)
        self._tick()


async def run_console(
    settings: Settings, redis_url: str, database_url: str, keyspace: Keyspace
) -> None:
    """Run the console in this terminal until the operator quits (`q`)."""
    maxlen = {name: pipeline.maxlen for name, pipeline in settings.tasks.pipelines().items()}
    await ConsoleApp(redis_url, database_url, keyspace, stream_maxlen=maxlen).run_async()
