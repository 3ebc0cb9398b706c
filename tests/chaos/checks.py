"""The invariants, checked after the storm and a drain against what the sandbox recorded.

Each check returns a :class:`Check`: its name, whether it held, and the numbers behind it.
"""

from __future__ import annotations

import collections
import re
import time
import typing

from tests.chaos.leftovers import could_predate, holders, listening_ports
from tests.chaos.load import BANNED_WORDS, LEVEL_XP
from tests.chaos.verdict import Check
from tests.support.pipeline import int_hash
from tests.support.xp import SETTINGS, drained, reference_totals
from townsquare.core.alerts import parse_alert
from townsquare.core.config.service import load_guild_config
from townsquare.core.events import MessageRecord
from townsquare.core.features import pipeline_names
from townsquare.core.guard.actions import Action, Source
from townsquare.core.guard.models import Case
from townsquare.core.processes import process_alive
from townsquare.core.snowflakes import snowflake_ms
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayPick, GiveawayState
from townsquare.sandbox.world.interactions import APPLICATION_COMMAND

if typing.TYPE_CHECKING:
    from tests.chaos.faults import Faults
    from tests.chaos.load import Activity
    from tests.chaos.system import System
    from townsquare.core.alerts import Alert
    from townsquare.sandbox.world.models import Interaction
    from townsquare.sandbox.world.state import World

__all__ = ["Check", "all_drained", "check_after_stop", "check_everything", "xp_counted"]

WORD: typing.Final = re.compile(r"[a-z]+")
NOTICE: typing.Final = re.compile(r"^<@(\d+)> reached level (\d+)!$")
ANNOUNCEMENT: typing.Final = re.compile(r"-# Giveaway #(\d+) · draw (\d+)")
OUTAGE_ALERTS: typing.Final = {
    "Redis unreachable": "redis_unavailable",
    "PostgreSQL unreachable": "postgresql_unavailable",
    "internal API down": "internal_api_unavailable",
}
"""The alert key each outage raises (one per outage: `alert_once`, 60 s apart at least)."""
API_DOWN: typing.Final = "internal API down"
CALL_MARGIN_SECONDS: typing.Final = 6.0
"""A shard's call fails for good after its retries (`http.internal_retry_max_seconds`, 5 s):
one made just before the link is restored may raise its alert this long after."""
RESTART_MARGIN_SECONDS: typing.Final = 30.0
"""A SIGKILLed HTTP service answers again once its process has started (imports, database
pool: seconds on a loaded machine) after the supervisor's backoff; calls meanwhile fail."""
MAX_LEVEL: typing.Final = 500
"""`xp.max_level` of the defaults."""
FINISHED: typing.Final = frozenset({GiveawayState.CLAIMING, GiveawayState.ENDED})


async def xp_counted(system: System) -> bool:
    """Every message the members sent is counted in the guild's message counts."""
    counts = await system.redis.hvals(system.keyspace.key("xp_messages", system.guild_id))
    return sum(int(v) for v in counts) >= len(system.sent)


async def all_drained(system: System) -> bool:
    """Every pipeline's stream delivered and acknowledged, nothing waiting to retry."""
    for pipeline in pipeline_names():
        if not await drained(system.redis, system.keyspace, pipeline):
            return False
    return True


def _records(system: System) -> list[MessageRecord]:
    return [
        MessageRecord(
            guild_id=system.guild_id,
            channel_id=sent.channel_id,
            author_id=sent.author_id,
            message_id=sent.message_id,
            timestamp_ms=snowflake_ms(sent.message_id),
            role_ids=(),
            length=1,
            mention_count=0,
            link_count=0,
        )
        for sent in system.sent
    ]


async def check_xp(system: System) -> list[Check]:
    """XP and message counts exactly the reference model's, per member."""
    config = (await load_guild_config(system.guild_id, SETTINGS.guild_defaults)).config
    records = _records(system)
    expected_counts = dict(collections.Counter(r.author_id for r in records))
    counts = await int_hash(system.redis, system.keyspace.key("xp_messages", system.guild_id))
    expected_xp = {k: v for k, v in reference_totals(records, config).items() if v}
    xp = {
        k: v
        for k, v in (
            await int_hash(system.redis, system.keyspace.key("xp", system.guild_id))
        ).items()
        if v
    }
    wrong_counts = {
        m: (counts.get(m, 0), n) for m, n in expected_counts.items() if counts.get(m, 0) != n
    }
    extra = set(counts) - set(expected_counts)
    wrong_xp = {m: (xp.get(m, 0), n) for m, n in expected_xp.items() if xp.get(m, 0) != n}
    extra_xp = set(xp) - set(expected_xp)
    return [
        Check(
            "no XP event lost or double-counted (message counts)",
            not wrong_counts and not extra,
            f"{len(records)} messages by {len(expected_counts)} members; "
            f"{len(wrong_counts)} members off (counted, sent): "
            f"{dict(list(wrong_counts.items())[:5])}",
        ),
        Check(
            "XP totals exactly the reference model's",
            not wrong_xp and not extra_xp,
            f"{sum(expected_xp.values())} XP; {len(wrong_xp) + len(extra_xp)} members off: "
            f"{dict(list(wrong_xp.items())[:5])}",
        ),
    ]


def check_notices(system: System) -> list[Check]:
    """One level-up notice per member and level, and one for every member's final level."""
    seen = collections.Counter(
        (int(m[1]), int(m[2])) for post in system.bot_posts if (m := NOTICE.match(post.content))
    )
    doubled = {key: n for key, n in seen.items() if n > 1}
    return [
        Check(
            "no level-up notice posted twice",
            not doubled,
            f"{sum(seen.values())} notices; doubled (member, level): {doubled or 'none'}",
        )
    ]


async def check_final_levels(system: System) -> Check:
    """Every member's final level announced, except where the bot may not post: a level
    reached by a message in a channel it cannot post in (the demo's #staff-chat) is an
    `xp.notice_forbidden/<channel>` guild alert instead (docs/xp.md), also checked here."""
    config = (await load_guild_config(system.guild_id, SETTINGS.guild_defaults)).config
    records = sorted(_records(system), key=lambda r: (r.timestamp_ms, r.message_id))
    totals = reference_totals(records, config)
    levels = {member: min(total // LEVEL_XP, MAX_LEVEL) for member, total in totals.items()}
    noticed = {
        (int(m[1]), int(m[2])) for post in system.bot_posts if (m := NOTICE.match(post.content))
    }
    forbidden = {
        int(a.key.rsplit("/", 1)[1])
        for a in await _alerts(system)
        if a.key.startswith("xp.notice_forbidden/")
    }
    missing, told = {}, {}
    for member, level in levels.items():
        if not level or (member, level) in noticed:
            continue
        channel = _levelled_in(records, config, member, level)
        (told if channel in forbidden else missing)[member] = level
    return Check(
        "every member's final level announced",
        not missing,
        f"{sum(1 for v in levels.values() if v)} members levelled up; missing (member, level): "
        f"{missing or 'none'}; {len(told)} in a channel the bot may not post in, "
        "the guild alerted instead",
    )


def _levelled_in(
    records: list[MessageRecord], config: typing.Any, member: int, level: int
) -> int | None:
    """The channel of the member's message that took them to `level`."""
    for index, record in enumerate(records):
        if record.author_id != member:
            continue
        total = reference_totals(records[: index + 1], config).get(member, 0)
        if total >= level * LEVEL_XP:
            return record.channel_id
    return None


async def check_giveaways(system: System, activity: Activity) -> list[Check]:
    giveaways = await Giveaway.filter(guild_id=system.guild_id).all()
    unfinished = [g.id for g in giveaways if g.state not in FINISHED | {GiveawayState.CANCELLED}]
    announcements = collections.Counter(
        (int(m[1]), int(m[2]))
        for post in system.bot_posts
        if (m := ANNOUNCEMENT.search(post.content))
    )
    doubled = {key: n for key, n in announcements.items() if n > 1}
    picks = await GiveawayPick.filter(giveaway_id__in=[g.id for g in giveaways]).values_list(
        "giveaway_id", "position"
    )
    doubled_picks = {k: n for k, n in collections.Counter(picks).items() if n > 1}
    won = {g for g, _ in picks}
    unannounced = sorted(g for g in won if not any(a[0] == g for a in announcements))
    states = collections.Counter(g.state.value for g in giveaways)
    return [
        Check(
            "every giveaway ended, once, with one announcement",
            not unfinished and not doubled and not doubled_picks and not unannounced,
            f"{len(activity.giveaway_commands)} started by command, {len(giveaways)} created "
            f"({dict(states)}), {activity.entries} entries clicked; "
            f"not ended: {unfinished or 'none'}; announcements doubled: {doubled or 'none'}; "
            f"picks doubled: {doubled_picks or 'none'}; "
            f"winners never announced: {unannounced or 'none'}",
        )
    ]


def check_cards(system: System) -> list[Check]:
    media = next(
        c.id
        for c in system.sandbox.world.guilds[system.guild_id].channels.values()
        if c.name == "media"
    )
    # A card is its text and its stream's link (the demo's YouTube title repeats).
    cards = collections.Counter(
        (post.content.splitlines()[0], post.urls)
        for post in system.bot_posts
        if post.channel_id == media and post.content and any(post.urls)
    )
    doubled = {text: n for text, n in cards.items() if n > 1}
    return [
        Check(
            "no live alert card posted twice",
            not doubled,
            f"{sum(cards.values())} cards; doubled: {doubled or 'none'}",
        )
    ]


def check_questions(system: System, activity: Activity, faults: Faults) -> list[Check]:
    """Every `/ask` answered once, except those asked while the bot could not see the
    gateway (Discord's 3 s for the first response had passed when it saw them)."""
    world = system.sandbox.world
    unanswered: list[str] = []
    excused: list[str] = []
    doubled: list[int] = []
    for interaction_id in activity.questions:
        interaction = world.interactions[interaction_id]
        response = world.messages.get(interaction.response_message_id or 0)
        if not interaction.followup_message_ids and (response is None or not response.content):
            at = interaction.created_at.timestamp()
            gap = any(start <= at <= end for start, end in faults.gateway_gaps)
            (excused if gap else unanswered).append(
                f"{interaction_id} at {interaction.created_at:%H:%M:%S.%f}"
                f" ({'deferred' if interaction.response_message_id else 'no response'})"
            )
        if len(interaction.followup_message_ids) > 1:
            doubled.append(interaction_id)
    return [
        Check(
            "every assistant question answered once",
            not unanswered and not doubled,
            f"{len(activity.questions)} questions; unanswered: {unanswered or 0} "
            f"(+{len(excused)} asked while the shard was away); answered twice: {len(doubled)}",
        )
    ]


MODAL: typing.Final = 9
"""An interaction response that opens a modal: an answer with no message."""


def answered(world: World, interaction: Interaction) -> bool:
    """The bot answered: a message response with something in it (or one since deleted: the
    deferred placeholder `answer` removes before an ephemeral follow-up), a follow-up, or a
    modal; not a deferral left "thinking"."""
    if interaction.followup_message_ids or interaction.response_type == MODAL:
        return True
    if interaction.response_message_id is None:
        return False
    message = world.messages.get(interaction.response_message_id)
    return message is None or bool(message.content or message.embeds or message.attachments)


def check_commands_answered(system: System, faults: Faults) -> list[Check]:
    """Every slash command used in the guild (the crowd's and the driver's) got an answer;
    those used while the bot could not see the gateway or Discord's REST was failing on
    purpose are excused (on Discord, too, they fail)."""
    world = system.sandbox.world
    excused_windows = (*faults.gateway_gaps, *faults.rest_storms)
    commands = [
        i
        for i in world.interactions.values()
        if i.type == APPLICATION_COMMAND and i.guild_id == system.guild_id
    ]
    unanswered: list[str] = []
    excused = 0
    for interaction in commands:
        if answered(world, interaction):
            continue
        at = interaction.created_at.timestamp()
        if any(start <= at <= end for start, end in excused_windows):
            excused += 1
            continue
        state = "deferred" if interaction.response_message_id else "no response"
        unanswered.append(
            f"/{interaction.command_name} at {interaction.created_at:%H:%M:%S.%f} ({state})"
        )
    return [
        Check(
            "every slash command answered",
            not unanswered,
            f"{len(commands)} commands; unanswered: {unanswered[:8] or 'none'}"
            f"{f' (+{len(unanswered) - 8} more)' if len(unanswered) > 8 else ''}; "
            f"{excused} unanswered while the shard was away or Discord's REST failing",
        )
    ]


async def _alerts(system: System) -> list[Alert]:
    entries = await system.redis.xrange(system.keyspace.key("alerts"))
    return [parse_alert(entry_id.decode(), fields) for entry_id, fields in entries]


async def check_moderation(system: System) -> list[Check]:
    """Automod against the crowd's own record: every message the sandbox saw a member send
    with one of the crowd's banned words (as a whole word: the reference needs no
    normalisation) is on an automod case (its offense, or the delete that took it; a case the
    guard blocked or Discord refused still counts: the action was decided once), and no
    message has two offense cases or two delete cases."""
    banned = set(BANNED_WORDS)
    expected = {
        sent.message_id
        for sent in system.sent
        if banned.intersection(WORD.findall(sent.content.lower()))
    }
    cases = await Case.filter(guild_id=system.guild_id, source=Source.AUTOMOD).values(
        "action", "message_id", "message_ids"
    )
    offenses: collections.Counter[int] = collections.Counter()
    deletes: collections.Counter[int] = collections.Counter()
    for case in cases:
        if case["action"] == Action.DELETE:
            deletes.update(case["message_ids"] or [])
        elif case["message_id"]:
            offenses[case["message_id"]] += 1
    lost = sorted(expected - set(offenses) - set(deletes))
    doubled = sorted(
        {m for m, n in offenses.items() if n > 1} | {m for m, n in deletes.items() if n > 1}
    )
    return [
        Check(
            "no automod action lost (every banned-word message on a case)",
            not lost,
            f"{len(expected)} banned-word messages, {len(cases)} automod cases; "
            f"without a case: {lost[:5] or 'none'}",
        ),
        Check(
            "no automod action doubled (one offense and one delete per message at most)",
            not doubled,
            f"{len(offenses)} offenses, {len(deletes)} messages deleted; twice: "
            f"{doubled[:5] or 'none'}",
        ),
    ]


async def check_queues(system: System) -> list[Check]:
    letters: dict[str, list[str]] = {}
    for pipeline in pipeline_names():
        for _, fields in await system.redis.xrange(system.keyspace.key("dead_letter", pipeline)):
            decoded = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
            letters.setdefault(pipeline, []).append(
                f"{decoded.get('task_name', '?')}: {decoded.get('error', '?')[:160]}"
            )
    return [
        Check(
            "no dead letters",
            not letters,
            "; ".join(f"{p}: {len(v)} ({v[0]})" for p, v in letters.items()) or "none",
        ),
        Check(
            "every queue drained", await all_drained(system), "streams acknowledged, retries empty"
        ),
    ]


async def check_alerts(system: System, faults: Faults) -> list[Check]:
    alerts = await _alerts(system)
    keys = collections.Counter(a.key for a in alerts)
    checks = []
    for kind, count in sorted(faults.counts.items()):
        if not kind.startswith("SIGKILL "):
            continue
        child = kind.removeprefix("SIGKILL ")
        raised = sum(n for key, n in keys.items() if key.startswith(f"up/{child}"))
        checks.append(
            Check(f"an alert per {child} crash", raised >= count, f"{count} kills, {raised} alerts")
        )
    # A Valkey kill and restart lasts about a second: below the 3 s an outage needs to be alerted.
    for kind, key in OUTAGE_ALERTS.items():
        outages = sum(1 for k, *_ in faults.outages if k == kind)
        if outages and kind != API_DOWN:
            raised = keys.get(key, 0)
            checks.append(
                Check(
                    f"an alert per {kind}", raised >= outages, f"{outages} outages, {raised} alerts"
                )
            )
    if any(k == API_DOWN for k, *_ in faults.outages):
        checks.append(check_api_down_alerts(alerts, faults))
    return checks


def check_api_down_alerts(alerts: list[Alert], faults: Faults) -> Check:
    """Each internal API outage alerted while it lasted, and no `internal_api_unavailable`
    alert without a cause: raised outside the outages and the HTTP service's restarts (a
    SIGKILLed HTTP service is unreachable until it is back, the shards say so too)."""
    raised = [
        int(a.alert_id.split("-", maxsplit=1)[0]) / 1000
        for a in alerts
        if a.key == OUTAGE_ALERTS[API_DOWN]
    ]
    outages = [
        (start, end + CALL_MARGIN_SECONDS) for k, start, end in faults.outages if k == API_DOWN
    ]
    restarts = [
        (start, end + RESTART_MARGIN_SECONDS)
        for child, start, end in faults.restarts
        if child == "http"
    ]
    silent = [
        f"{time.strftime('%H:%M:%S', time.localtime(start))}"
        for start, end in outages
        if not any(start <= at <= end for at in raised)
    ]
    during_restarts = [at for at in raised if any(s <= at <= e for s, e in restarts)]
    unexplained = [
        time.strftime("%H:%M:%S", time.localtime(at))
        for at in raised
        if not any(s <= at <= e for s, e in (*outages, *restarts))
    ]
    return Check(
        "an alert per internal API down, and none without a cause",
        not silent and not unexplained,
        f"{len(outages)} outages, {len(raised)} alerts ({len(raised) - len(during_restarts)} in "
        f"the outages, {len(during_restarts)} while HTTP restarted after a SIGKILL); "
        f"outages not alerted: {silent or 'none'}; alerts without an outage: "
        f"{unexplained or 'none'}",
    )


async def check_everything(system: System, activity: Activity, faults: Faults) -> list[Check]:
    return [
        *await check_xp(system),
        *check_notices(system),
        await check_final_levels(system),
        *await check_giveaways(system, activity),
        *check_cards(system),
        *check_questions(system, activity, faults),
        *check_commands_answered(system, faults),
        *await check_moderation(system),
        *await check_queues(system),
        *await check_alerts(system, faults),
    ]


def check_after_stop(system: System, pids: dict[str, int], last_kill: float) -> list[Check]:
    """After the whole run stopped (children, sandbox, proxies, Valkey): no process, no
    listening port, and (read before Valkey stopped) no lock or lease left but those a child
    SIGKILLed at `last_kill` (epoch seconds) may have left to lapse."""
    left = [name for name, pid in pids.items() if process_alive(pid)]
    ports = system.run_ports()
    listening = listening_ports()
    bound = {
        f"{port} ({what}): {', '.join(holders(listening[port])) or 'a socket'}"
        for port, what in ports.items()
        if port in listening
    }
    metrics = sorted(system.metrics_ports)
    seen = sorted(set(system.child_ports.values()))
    since_kill = system.locks_read_at - last_kill
    locks, excused = system.locks_after_stop, {}
    if locks is not None:
        excused = {
            k: ttl for k, ttl in locks.items() if could_predate(k, ttl, system.keyspace, since_kill)
        }
        locks = {k: ttl for k, ttl in locks.items() if k not in excused}
    return [
        Check("no process left after stop", not left, f"still running: {left or 'none'}"),
        Check(
            "no listening port left after stop",
            not bound and seen == metrics,
            f"{len(ports)} ports of the run ({len(system.child_ports)} found listening in "
            f"{len(seen)} of {len(metrics)} children before the stop); "
            f"still bound: {sorted(bound) or 'none'}",
        ),
        Check(
            "no lock or lease left after stop",
            locks is not None and not locks,
            "not read (Redis did not answer)"
            if locks is None
            else f"left (key: TTL ms): {dict(list(locks.items())[:5]) or 'none'}; "
            f"excused, set before the last SIGKILL ({since_kill:.0f} s before): "
            f"{dict(list(excused.items())[:5]) or 'none'}",
        ),
    ]
