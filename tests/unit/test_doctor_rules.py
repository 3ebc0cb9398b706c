"""The doctor's rules without Discord: a member's permissions in a channel, the invite's name."""

from __future__ import annotations

import hikari
import pytest

from townsquare.core.doctor import channel_permissions, permission_label, required_permissions
from townsquare.core.features import Feature, FeatureError

P = hikari.Permissions
GUILD, BOT, ROLE, OTHER_ROLE = 1, 2, 3, 4


def overwrite(
    target: int, kind: hikari.PermissionOverwriteType, allow: P = P.NONE, deny: P = P.NONE
) -> hikari.PermissionOverwrite:
    return hikari.PermissionOverwrite(
        id=hikari.Snowflake(target), type=kind, allow=allow, deny=deny
    )


def test_overwrites_apply_everyone_then_roles_together_then_the_member() -> None:
    base = P.VIEW_CHANNEL | P.SEND_MESSAGES
    role = hikari.PermissionOverwriteType.ROLE
    member = hikari.PermissionOverwriteType.MEMBER
    closed = {hikari.Snowflake(GUILD): overwrite(GUILD, role, deny=P.SEND_MESSAGES)}
    assert P.SEND_MESSAGES not in channel_permissions(base, GUILD, BOT, [ROLE], closed)
    # A role's allow beats @everyone's deny; one role's deny does not beat another's allow.
    reopened = closed | {
        hikari.Snowflake(ROLE): overwrite(ROLE, role, allow=P.SEND_MESSAGES),
        hikari.Snowflake(OTHER_ROLE): overwrite(OTHER_ROLE, role, deny=P.SEND_MESSAGES),
    }
    assert P.SEND_MESSAGES in channel_permissions(base, GUILD, BOT, [ROLE, OTHER_ROLE], reopened)
    # The member's own overwrite comes last.
    muted = reopened | {hikari.Snowflake(BOT): overwrite(BOT, member, deny=P.SEND_MESSAGES)}
    assert P.SEND_MESSAGES not in channel_permissions(base, GUILD, BOT, [ROLE], muted)
    # An administrator is not bound by overwrites.
    assert P.SEND_MESSAGES in channel_permissions(P.ADMINISTRATOR, GUILD, BOT, [ROLE], muted)


def test_a_declared_permission_must_be_a_discord_permission() -> None:
    with pytest.raises(FeatureError, match="'MENTION_EVERYBODY' is not a Discord permission"):
        required_permissions([Feature(name="typo", permissions=("MENTION_EVERYBODY",))])


def test_labels_read_as_discord_settings_name_them() -> None:
    assert permission_label(P.SEND_MESSAGES | P.MANAGE_GUILD) == "Manage Server, Send Messages"


def test_the_self_hosting_page_lists_what_each_feature_declares() -> None:
    from tests.support.paths import ROOT
    from townsquare.core.features import KERNEL_PERMISSIONS, enabled_features

    def label(names: tuple[str, ...]) -> str:
        flags = P.NONE
        for name in names:
            flags |= P[name]
        return permission_label(flags)

    rows = {}
    for line in (ROOT / "docs" / "self-hosting.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 3:
            rows[cells[0]] = cells[1]
    declared = {"kernel": label(KERNEL_PERMISSIONS)} | {
        feature.name: label(feature.permissions)
        for feature in enabled_features()
        if feature.permissions
    }
    assert {name: rows.get(name) for name in declared} == declared
