"""The chaos suite's own checks can fail (issue 17): the escalation reference, the leftovers
after stop (a listening port, a lock or lease in Redis), one card per announced stream. Well
under a second."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import time
import types
import typing

import pytest

from tests.chaos.cards import SeenStream, check_every_stream_carded
from tests.chaos.checks import check_api_down_alerts, check_commands_answered
from tests.chaos.escalation import expected_steps
from tests.chaos.leftovers import (
    could_predate,
    held_locks,
    holders,
    listening_ports,
    ports_of_processes,
)
from tests.chaos.system import BotPost
from townsquare.core.alerts import Alert
from townsquare.core.guard.models import CaseStatus
from townsquare.sandbox.platforms.common import Delivery
from townsquare.tasks.idempotency import done_key

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from tests.chaos.faults import Faults
    from tests.chaos.system import System
    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

T0 = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
LADDER = [(1, "warn", 0), (3, "timeout", 600), (5, "timeout", 86_400), (7, "kick", 0)]


def _case(
    number: int,
    points: int,
    *,
    member: int = 1,
    minutes: float = 0,
    status: CaseStatus = CaseStatus.EXECUTED,
    action: str = "offense",
) -> dict[str, typing.Any]:
    return {
        "number": number,
        "key": f"automod/{number}",
        "action": action,
        "target_id": member,
        "points": points,
        "pardoned": False,
        "status": status,
        "occurred_at": T0 + datetime.timedelta(minutes=minutes),
    }


def test_the_escalation_reference_follows_the_ladder() -> None:
    cases = [
        _case(1, 1),  # 0 -> 1: warn
        _case(2, 1, member=2),  # another member's: warn of their own
        _case(3, 1),  # 1 -> 2: nothing
        _case(4, 4),  # 2 -> 6: crosses 3 and 5, the highest applies
        _case(5, 1, status=CaseStatus.BLOCKED),  # blocked: counts nothing
        _case(6, 0, action="delete"),  # no points
        _case(7, 1),  # 6 -> 7: kick
        _case(8, 1, member=2, action="warn"),  # 1 -> 2, and a warn never gets a warn step
    ]
    steps = expected_steps(cases, LADDER, expiry_days=30, half_life_days=None)
    assert steps == {
        "automod/1/ladder": ("warn", None, 1),
        "automod/2/ladder": ("warn", None, 2),
        "automod/4/ladder": ("timeout", 86_400, 4),
        "automod/7/ladder": ("kick", None, 7),
    }


def test_the_escalation_reference_lets_points_expire_and_decay() -> None:
    day = 24 * 60
    expired = [_case(1, 2), _case(2, 2, minutes=31 * day)]  # 0 -> 2, not 2 -> 4
    assert expected_steps(expired, LADDER, expiry_days=30, half_life_days=None)[
        "automod/2/ladder"
    ] == ("warn", None, 2)
    halved = [_case(1, 4), _case(2, 1, minutes=7 * day)]  # 4 -> 2 after a week, then 3
    assert expected_steps(halved, LADDER, expiry_days=30, half_life_days=7)["automod/2/ladder"] == (
        "timeout",
        600,
        2,
    )


async def test_a_listening_port_is_found_with_its_holder() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert port in listening_ports()
        assert ports_of_processes([os.getpid()]).get(port) == os.getpid()
        assert any(name.startswith(f"{os.getpid()} ") for name in holders(listening_ports()[port]))
    finally:
        server.close()
        await server.wait_closed()
    assert port not in listening_ports()


async def test_locks_and_running_leases_are_found_and_done_markers_are_not(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    assert await held_locks(redis, keyspace) == {}
    lock = keyspace.key("scheduler_lock")
    lease = done_key(keyspace, "ai_answer", "1")
    await redis.set(lock, "holder", px=30_000)
    await redis.set(lease, b"running:abc", px=30_000)
    await redis.set(done_key(keyspace, "ai_answer", "2"), b"done")
    await redis.set(keyspace.key("xp_loaded", 1), 1)
    held = await held_locks(redis, keyspace)
    assert set(held) == {lock, lease}
    assert all(0 < ttl <= 30_000 for ttl in held.values())
    # 30 s locks: one with 4 s left may be a holder's SIGKILLed 26 s ago; 16 s left may not.
    assert could_predate(lock, 4_000, keyspace, 26.0)
    assert could_predate(lease, 4_000, keyspace, 26.0)
    assert not could_predate(lock, 16_000, keyspace, 26.0)
    assert not could_predate(lock, 1_000, keyspace, 31.0)  # the holder's would have lapsed


def _deliveries_and_system(posts: list[BotPost]) -> typing.Any:
    """A stand-in for the run's `System`: #media, the bot's posts, the platforms' records."""
    now = datetime.datetime.now(datetime.UTC)
    twitch = Delivery(
        "http://bot/twitch",
        {
            "Twitch-Eventsub-Message-Type": "notification",
            "Twitch-Eventsub-Subscription-Type": "stream.online",
        },
        json.dumps({"event": {"id": "t1"}}).encode(),
        [200],
    )
    refused = Delivery(
        "http://bot/twitch",
        {
            "Twitch-Eventsub-Message-Type": "notification",
            "Twitch-Eventsub-Subscription-Type": "stream.online",
        },
        json.dumps({"event": {"id": "t2"}}).encode(),
        [503, 503, 503, 503],
    )
    kick = Delivery(
        "http://bot/kick",
        {"Kick-Event-Type": "livestream.status.updated"},
        json.dumps({"is_live": True, "title": "Kick #2"}).encode(),
        [0],
    )
    youtube = Delivery("http://bot/youtube", {}, b"<yt:videoId>v1</yt:videoId>", [204])
    video = types.SimpleNamespace(id="v1", title="Demo live", started_at=now, ended_at=None)
    media = types.SimpleNamespace(id=5, name="media")
    return types.SimpleNamespace(
        guild_id=1,
        bot_posts=posts,
        sandbox=types.SimpleNamespace(
            world=types.SimpleNamespace(guilds={1: types.SimpleNamespace(channels={5: media})}),
            platforms=types.SimpleNamespace(
                deliverer=types.SimpleNamespace(sent=[twitch, refused, kick, youtube]),
                youtube=types.SimpleNamespace(videos={"v1": video}),
            ),
        ),
    )


def _card(message_id: int, text: str, url: str) -> BotPost:
    return BotPost(message_id, 5, text, ("",), (url,))


def test_every_announced_stream_needs_exactly_one_card() -> None:
    seen = {
        "t1": SeenStream("Twitch", "t1", "Twitch #1"),
        "t2": SeenStream("Twitch", "t2", "Twitch #3"),  # every delivery refused: excused
        "k1": SeenStream("Kick", "k1", "Kick #2"),  # delivered, unanswered: polled, owed
        "t9": SeenStream("Twitch", "t9", "never announced"),
    }
    one_each = [
        _card(1, "@Streamer **Dorian** is live on Twitch: Twitch #1", "https://twitch.tv/dorian"),
        _card(2, "@Streamer **Elsie** is live on Kick: Kick #2", "https://kick.com/elsie"),
        _card(3, "@Streamer **Elsie** is live on YouTube: Demo live", "https://youtu.be/v1"),
    ]
    until = time.time() + 1
    [held] = check_every_stream_carded(_deliveries_and_system(one_each), seen, until)
    assert held.held, held.detail
    assert "3 streams announced" in held.detail and "Twitch #3" in held.detail
    doubled = [*one_each, _card(4, one_each[0].content, "https://twitch.tv/dorian")]
    [check] = check_every_stream_carded(_deliveries_and_system(doubled), seen, until)
    assert not check.held and "'Twitch #1' (t1): 2 cards" in check.detail
    [check] = check_every_stream_carded(_deliveries_and_system(one_each[:2]), seen, until)
    assert not check.held and "(v1): 0 cards" in check.detail
    # Streams went live and none was announced to the bot (the demo's feeds never set up):
    # no card is owed, and the check does not hold vacuously.
    unannounced = {"t9": seen["t9"]}
    system = _deliveries_and_system([])
    system.sandbox.platforms.deliverer.sent = []
    system.sandbox.platforms.youtube.videos = {}
    [check] = check_every_stream_carded(system, unannounced, until)
    assert not check.held and "0 streams announced" in check.detail
    [check] = check_every_stream_carded(system, {}, until)  # the short run: none seen
    assert check.held, check.detail


def test_each_internal_api_outage_needs_its_own_alert_and_none_without_a_cause() -> None:
    """The run before the fix: the internal API outages (10:03:58, 10:08:04) were not alerted
    (a PostgreSQL outage's 503s had raised the key 30 s before, and its one-a-minute claim hid
    them), and those two alerts had no internal API outage behind them."""
    day = datetime.datetime(2026, 12, 3, 10, tzinfo=datetime.UTC).timestamp()

    def at(minute: int, second: int) -> float:
        return day + minute * 60 + second

    def clock(when: float) -> str:  # the chaos log's local time
        return time.strftime("%H:%M:%S", time.localtime(when))

    def alert(when: float) -> Alert:
        ms = int(when * 1000)
        return Alert(f"{ms}-0", "", "error", "shards", "", "internal_api_unavailable", None)

    faults = types.SimpleNamespace(
        outages=[
            ("internal API down", at(3, 58), at(4, 28)),
            ("PostgreSQL unreachable", at(3, 18), at(3, 48)),
        ],
        restarts=[("http", at(1, 49), at(1, 55)), ("worker-a", at(3, 0), at(3, 5))],
    )
    before = [alert(at(1, 57)), alert(at(3, 28))]
    failed = check_api_down_alerts(before, typing.cast("Faults", faults))
    assert not failed.held
    assert f"outages not alerted: ['{clock(at(3, 58))}']" in failed.detail
    assert f"alerts without an outage: ['{clock(at(3, 28))}']" in failed.detail
    after = [alert(at(1, 57)), alert(at(4, 1))]
    held = check_api_down_alerts(after, typing.cast("Faults", faults))
    assert held.held, held.detail
    assert "1 in the outages, 1 while HTTP restarted" in held.detail


def test_a_slash_command_left_without_an_answer_fails_unless_the_bot_could_not_see_it() -> None:
    day = datetime.datetime(2026, 12, 3, 10, tzinfo=datetime.UTC)

    def used(n: int, second: int, **response: typing.Any) -> types.SimpleNamespace:
        return types.SimpleNamespace(
            type=2,
            guild_id=1,
            command_name=f"c{n}",
            created_at=day + datetime.timedelta(seconds=second),
            followup_message_ids=response.get("followups", []),
            response_type=response.get("type"),
            response_message_id=response.get("message"),
        )

    world = types.SimpleNamespace(
        interactions={
            1: used(1, 0, type=4, message=11),  # answered
            2: used(2, 1, type=5, message=12, followups=[13]),  # deferred, then followed up
            3: used(3, 2, type=5, message=14),  # deferred and never filled: "thinking..."
            4: used(4, 3),  # never answered
            5: used(5, 40),  # never answered, in a gateway gap
            6: used(6, 4, type=5, message=15),  # deferred placeholder deleted (ephemeral after)
        },
        messages={
            11: types.SimpleNamespace(content="hi", embeds=[], attachments=[]),
            12: types.SimpleNamespace(content="", embeds=[], attachments=[]),
            14: types.SimpleNamespace(content="", embeds=[], attachments=[]),
        },
    )
    system = types.SimpleNamespace(sandbox=types.SimpleNamespace(world=world), guild_id=1)
    start = day.timestamp()
    faults = types.SimpleNamespace(gateway_gaps=[(start + 30, start + 50)], rest_storms=[])
    [check] = check_commands_answered(typing.cast("System", system), typing.cast("Faults", faults))
    assert not check.held
    assert "/c3 at 10:00:02.000000 (deferred)" in check.detail
    assert "/c4 at 10:00:03.000000 (no response)" in check.detail
    assert "c1" not in check.detail and "c2" not in check.detail and "c6" not in check.detail
    assert "1 unanswered while the shard was away" in check.detail
