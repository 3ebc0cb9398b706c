"""Feed health: what the renewal schedule alerts about (`subscription_problem`: revoked or
failed, unverified past the grace period, a lease that ran out) and what a feed's listing
shows (`feed_out`: those, plus a confirmed subscription silent for 30 days)."""

from __future__ import annotations

import datetime

import pytest

from townsquare.features.streams.domain.feeds import SILENT_AFTER, feed_out
from townsquare.features.streams.domain.models import (
    Creator,
    Feed,
    Platform,
    SubscriptionState,
)
from townsquare.features.streams.domain.subscriptions import (
    PENDING_GRACE,
    subscription_problem,
)

NOW = datetime.datetime(2026, 12, 2, 14, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


def _creator(
    platform: Platform = Platform.YOUTUBE,
    state: SubscriptionState = SubscriptionState.ENABLED,
    *,
    updated: datetime.timedelta = datetime.timedelta(0),
    **fields: object,
) -> Creator:
    creator = Creator(
        id=1,
        platform=platform,
        platform_id="UCxxxxxxxxxxxxxxxxxxxxxx",
        login="@dorian",
        display_name="Dorian",
        state=state,
        **fields,
    )
    creator.updated_at = NOW - updated
    return creator


def _feed(**fields: object) -> Feed:
    return Feed(id=7, guild_id=1, creator_id=1, channel_id=2, template="{title}", **fields)


def test_a_confirmed_subscription_inside_its_lease_has_no_problem() -> None:
    creator = _creator(expires_at=NOW + datetime.timedelta(days=3), verified_at=NOW)
    assert subscription_problem(creator, NOW) is None
    assert feed_out(_feed(), creator, NOW).healthy


@pytest.mark.parametrize("platform", [Platform.TWITCH, Platform.YOUTUBE])
def test_unverified_past_the_grace_period_is_a_problem(platform: Platform) -> None:
    """Twitch's challenge or the hub's verification GET never reached us: alerted once the
    grace period (10 minutes) has passed, not before."""
    early = _creator(platform, SubscriptionState.PENDING, updated=PENDING_GRACE - MINUTE)
    assert subscription_problem(early, NOW) is None
    late = _creator(platform, SubscriptionState.PENDING, updated=PENDING_GRACE)
    assert subscription_problem(late, NOW) == "the platform has not confirmed the subscription"


def test_an_unconfirmed_kick_subscription_is_polled_not_alerted() -> None:
    """Kick confirms by a first delivery, which may take days (nobody streams): polled."""
    creator = _creator(Platform.KICK, SubscriptionState.PENDING, updated=datetime.timedelta(days=2))
    assert subscription_problem(creator, NOW) is None


def test_a_lease_that_ran_out_is_a_problem_and_the_feed_unhealthy() -> None:
    """A WebSub lease not renewed in time: the hub pushes nothing any more."""
    creator = _creator(expires_at=NOW - MINUTE, verified_at=NOW - datetime.timedelta(days=5))
    assert subscription_problem(creator, NOW) == "the subscription's lease has run out"
    out = feed_out(_feed(), creator, NOW)
    assert not out.healthy
    assert out.last_error == "the subscription's lease has expired"
    assert subscription_problem(creator, NOW - 2 * MINUTE) is None  # the minute before


@pytest.mark.parametrize("state", [SubscriptionState.REVOKED, SubscriptionState.FAILED])
def test_revoked_or_failed_is_a_problem_with_its_reason(state: SubscriptionState) -> None:
    creator = _creator(Platform.TWITCH, state, last_error="revoked by twitch: user_removed")
    assert subscription_problem(creator, NOW) == "revoked by twitch: user_removed"
    assert subscription_problem(_creator(Platform.TWITCH, state), NOW) == (
        f"the subscription is {state.value}"
    )
    assert not feed_out(_feed(), creator, NOW).healthy


def test_a_confirmed_feed_silent_for_30_days_is_unhealthy_but_not_alerted() -> None:
    """Silence is shown on the feed (the listing, the console); it is not an alert: the issue
    asks for one when a feed is silent past its *lease* (above), and a creator who does not
    stream for a month is no fault of the subscription."""
    quiet = _creator(Platform.TWITCH, last_event_at=NOW - SILENT_AFTER + MINUTE)
    assert feed_out(_feed(), quiet, NOW).healthy
    silent = _creator(Platform.TWITCH, last_event_at=NOW - SILENT_AFTER - MINUTE)
    out = feed_out(_feed(), silent, NOW)
    assert (out.healthy, out.last_error) == (False, "no event for 30 days")
    assert subscription_problem(silent, NOW) is None
    # Never an event: counted from the confirmation; unconfirmed subscriptions are not silent.
    confirmed = _creator(Platform.TWITCH, verified_at=NOW - datetime.timedelta(days=40))
    assert feed_out(_feed(), confirmed, NOW).last_error == "no event for 40 days"
    pending = _creator(Platform.KICK, SubscriptionState.PENDING, verified_at=confirmed.verified_at)
    assert feed_out(_feed(), pending, NOW).healthy


def test_a_card_that_could_not_be_posted_comes_first() -> None:
    creator = _creator(expires_at=NOW - MINUTE)
    out = feed_out(_feed(last_error="cannot post in channel 2: Missing Permissions"), creator, NOW)
    assert (out.healthy, out.last_error) == (False, "cannot post in channel 2: Missing Permissions")
