from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from townsquare.core.events import MessageRecord
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.config import VoiceXPSection, XPSection
from townsquare.features.xp.domain.levels import plan_rewards, render_notice
from townsquare.features.xp.domain.rules import base_amount, message_amount, multiplier_for
from townsquare.features.xp.domain.voice import VoiceState, eligible_members

DEFAULTS = load_settings(environ={}, env_file=None).guild_defaults.section(XPSection)


def record(message_id: int, channel: int = 10, roles: tuple[int, ...] = ()) -> MessageRecord:
    return MessageRecord(
        guild_id=1,
        channel_id=channel,
        author_id=2,
        message_id=message_id,
        timestamp_ms=0,
        role_ids=roles,
        length=5,
        mention_count=0,
        link_count=0,
    )


def test_base_amount_is_fixed_by_the_message_id() -> None:
    for message_id in (1, 42, 2**63 + 5):
        digest = int(hashlib.sha256(str(message_id).encode()).hexdigest(), 16)
        assert base_amount(message_id, 15, 25) == 15 + digest % 11
        assert base_amount(message_id, 15, 25) == base_amount(message_id, 15, 25)
    assert {base_amount(n, 15, 25) for n in range(500)} == set(range(15, 26))
    assert base_amount(7, 20, 20) == 20


def test_multiplier_is_the_largest_role_times_the_channel() -> None:
    section = DEFAULTS.model_copy(
        update={"role_multipliers": {5: 1.5, 6: 2.0, 7: 0.5}, "channel_multipliers": {10: 1.1}}
    )
    assert multiplier_for(section, 10, [5, 6]) == Decimal("2.2")
    assert multiplier_for(section, 11, [7]) == Decimal("0.5")
    assert multiplier_for(section, 11, [99]) == 1
    # 10 * 1.1 floors to 11, not to 10 as binary floats would.
    section = section.model_copy(update={"per_message_min": 10, "per_message_max": 10})
    assert message_amount(section, record(3, channel=10)) == 11
    assert message_amount(section, record(3, channel=10, roles=(5,))) == 16  # floor(16.5)


def test_no_xp_channels_roles_and_disabled_xp_earn_nothing() -> None:
    section = DEFAULTS.model_copy(update={"no_xp_channel_ids": [10], "no_xp_role_ids": [8]})
    assert message_amount(section, record(1, channel=10)) == 0
    assert message_amount(section, record(1, channel=11, roles=(8,))) == 0
    assert message_amount(section, record(1, channel=11)) == base_amount(1, 15, 25)
    assert message_amount(DEFAULTS.model_copy(update={"enabled": False}), record(1)) == 0


def test_reward_plans_stack_or_replace() -> None:
    rewards = [(5, 105), (10, 110), (25, 125)]
    stack = plan_rewards(rewards, 12, "stack")
    assert stack.keep == {105, 110}
    assert stack.drop == {125}
    replace = plan_rewards(rewards, 12, "replace")
    assert replace.keep == {110}
    assert replace.drop == {105, 125}
    assert plan_rewards(rewards, 3, "replace").keep == set()
    assert plan_rewards(rewards, 3, "stack").drop == {105, 110, 125}


def test_notice_template_is_replaced_not_formatted() -> None:
    text = render_notice(
        "{user} hit {level} in {guild} {0} {x.__class__}", user_id=7, level=3, guild_name="Town"
    )
    assert text == "<@7> hit 3 in Town {0} {x.__class__}"


VOICE = VoiceXPSection(enabled=True, xp_per_minute=10, count_self_muted=False, min_members=2)


def state(user: int, channel: int | None = 50, **flags: bool) -> VoiceState:
    values = {"is_bot": False, "self_mute": False, "self_deaf": False, "mute": False, "deaf": False}
    values.update(flags)
    return VoiceState(user_id=user, channel_id=channel, ts=0, **values)


@pytest.mark.parametrize(
    ("states", "section", "earners"),
    [
        ([state(1)], VOICE, []),
        ([state(1), state(2, is_bot=True)], VOICE, []),
        ([state(1), state(2)], VOICE, [1, 2]),
        ([state(1), state(2), state(3, self_deaf=True)], VOICE, [1, 2]),
        ([state(1), state(2, deaf=True)], VOICE, []),
        ([state(1), state(2, self_mute=True)], VOICE, [1]),
        (
            [state(1), state(2, self_mute=True)],
            VOICE.model_copy(update={"count_self_muted": True}),
            [1, 2],
        ),
        ([state(1), state(2, mute=True)], VOICE, [1, 2]),
        ([state(1, channel=99), state(2, channel=99)], VOICE, []),
        ([state(1), state(2, channel=51)], VOICE, []),
        ([state(1), state(2), state(3, channel=None)], VOICE, [1, 2]),
        ([state(1), state(2), state(3)], VOICE.model_copy(update={"min_members": 3}), [1, 2, 3]),
        ([state(1), state(2)], VOICE.model_copy(update={"enabled": False}), []),
    ],
    ids=[
        "alone",
        "with-a-bot",
        "two-humans",
        "self-deafened",
        "server-deafened-partner",
        "self-muted",
        "self-muted-counted",
        "server-muted",
        "afk-channel",
        "different-channels",
        "left-voice",
        "min-members-3",
        "disabled",
    ],
)
def test_voice_anti_afk_rules(
    states: list[VoiceState], section: VoiceXPSection, earners: list[int]
) -> None:
    assert eligible_members(states, 99, section) == earners
