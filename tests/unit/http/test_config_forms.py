"""The dashboard's forms speak plainly (docs/dashboard.md): every field of every enabled
feature's config page has help text, every select offers a label for each value the schema
allows (and no value it refuses), and every number's range is the schema's own."""

from __future__ import annotations

import typing

import pytest

from townsquare.core.features import adapter_modules
from townsquare.http.config_forms import (
    Bounds,
    ConfigPage,
    FormField,
    describe_value,
    field_bounds,
    field_schema,
)

PAGES: typing.Final[list[ConfigPage]] = [
    page for module in adapter_modules("web") for page in getattr(module, "PAGES", ())
]
FIELDS: typing.Final = [(page, field) for page in PAGES for field in page.fields]


def _id(pair: tuple[ConfigPage, FormField]) -> str:
    return f"{pair[0].name}:{pair[1].name}"


def test_every_feature_page_is_covered() -> None:
    names = {page.name for page in PAGES}
    assert {"xp", "levels", "moderation", "automod", "commands", "assistant", "alerts"} <= names


@pytest.mark.parametrize("pair", FIELDS, ids=_id)
def test_every_field_is_in_the_schema_and_has_help(pair: tuple[ConfigPage, FormField]) -> None:
    page, field = pair
    assert field_schema(page.section, field.name), "the field is not in the schema"
    assert field.help.strip(), "no help text"
    assert field.help[0].isupper() or field.help[0] in "{(", "help reads as a sentence"


@pytest.mark.parametrize("pair", [(p, f) for p, f in FIELDS if f.kind == "choice"], ids=_id)
def test_every_choice_has_a_label_for_each_allowed_value(
    pair: tuple[ConfigPage, FormField],
) -> None:
    page, field = pair
    allowed = field_schema(page.section, field.name)["enum"]
    offered = [value for value, _ in field.choices]
    assert sorted(offered) == sorted(allowed)
    for value, label in field.choices:
        assert label != value and "_" not in label, f"{value!r} is shown as {label!r}"


@pytest.mark.parametrize("pair", [(p, f) for p, f in FIELDS if f.kind == "int"], ids=_id)
def test_every_number_has_the_schemas_range(pair: tuple[ConfigPage, FormField]) -> None:
    page, field = pair
    schema = field_schema(page.section, field.name)
    bounds = field_bounds(page.section, field)
    assert bounds.minimum == schema["minimum"]
    assert bounds.maximum == schema["maximum"]


def test_bounds_of_known_fields() -> None:
    xp = next(page for page in PAGES if page.name == "xp")
    cooldown = next(field for field in xp.fields if field.name == "cooldown_seconds")
    assert field_bounds("xp", cooldown) == Bounds(0, 86_400, None)
    levels = next(page for page in PAGES if page.name == "levels")
    template = next(field for field in levels.fields if field.name == "notice.template")
    assert field_bounds("levels", template).max_length == 1500
    # An id is not a range anyone types towards: left unbounded.
    channel = next(field for field in levels.fields if field.name == "notice.channel_id")
    assert field_bounds("levels", channel) == Bounds()


def test_values_are_described_in_words() -> None:
    mode = FormField("m", "Mode", "choice", (("current_channel", "Where they leveled up"),))
    assert describe_value(mode, "current_channel", {}) == "Where they leveled up"
    assert describe_value(FormField("b", "B", "bool"), "", {}) == "off"
    roles = FormField("r", "Roles", "role_list")
    assert describe_value(roles, "1 2", {"1": "Moderator"}) == "Moderator, 2"
    assert describe_value(roles, "", {}) == "none"
    assert describe_value(FormField("t", "T", "textarea"), "long text", {}) == ""


def test_dangerous_permissions_are_discords_bits() -> None:
    import hikari

    from townsquare.features.xp.domain.rewards import DANGEROUS_PERMISSIONS, dangerous_permissions

    flags = hikari.Permissions
    expected = (
        flags.ADMINISTRATOR | flags.MANAGE_GUILD | flags.BAN_MEMBERS | flags.KICK_MEMBERS
        | flags.MANAGE_ROLES | flags.MANAGE_CHANNELS | flags.MANAGE_WEBHOOKS
        | flags.MANAGE_GUILD_EXPRESSIONS | flags.MODERATE_MEMBERS | flags.MANAGE_MESSAGES
        | flags.MANAGE_NICKNAMES | flags.MANAGE_THREADS | flags.MANAGE_EVENTS
        | flags.MENTION_ROLES | flags.VIEW_AUDIT_LOG
    )  # fmt: skip
    combined = 0
    for bit, _ in DANGEROUS_PERMISSIONS:
        combined |= bit
    assert combined == int(expected)
    assert dangerous_permissions(int(flags.SEND_MESSAGES | flags.VIEW_CHANNEL)) == ""
    assert dangerous_permissions(int(flags.ADMINISTRATOR | flags.BAN_MEMBERS)) == (
        "Ban Members, Administrator"
    )


async def test_a_guild_is_headed_by_its_icon_or_its_initials() -> None:
    from quart import Quart

    from townsquare.core.auth import ManageableGuild
    from townsquare.http.layout import blueprint, guild_heading
    from townsquare.http.openapi import IdConverter

    app = Quart(__name__)
    app.url_map.converters["id"] = IdConverter
    app.register_blueprint(blueprint)
    async with app.test_request_context("/"):
        plain = guild_heading(ManageableGuild(5, "Town Square Demo"))
        assert (plain.icon_url, plain.initials) == (None, "TSD")
        icon = guild_heading(ManageableGuild(5, "Cats", "a_0123abcd"))
        assert icon.icon_url == "/dashboard/guilds/5/icon?v=a_0123abcd"
        assert icon.initials == "C"
