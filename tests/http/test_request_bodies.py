"""Bodies a client can break the parser with: each is a 400 naming the problem, never a 500,
and nothing stored changes (townsquare.http.bodies)."""

from __future__ import annotations

import typing

import pytest

from townsquare.core.audit.models import AuditEntry
from townsquare.core.config.models import GuildConfigRecord
from townsquare.features.xp.domain.models import LevelReward
from townsquare.http.bodies import MAX_FORM_FIELDS, MAX_JSON_DEPTH, json_depth_exceeds

if typing.TYPE_CHECKING:
    from quart.testing import QuartClient


JSON: typing.Final = {"Content-Type": "application/json"}
FORM: typing.Final = {"Content-Type": "application/x-www-form-urlencoded"}


async def _nothing_stored(guild_id: int) -> None:
    row = await GuildConfigRecord.get_or_none(guild_id=guild_id)
    assert row is None or row.version == 1
    assert not await LevelReward.filter(guild_id=guild_id).exists()
    assert not await AuditEntry.filter(guild_id=guild_id).exists()


def _nested(depth: int) -> bytes:
    return b'{"expected_version": 1, "config": ' + b"[" * depth + b"]" * depth + b"}"


BAD_JSON: typing.Final = {
    "latin-1-in-config": (
        "PUT",
        "config",
        b'{"expected_version": 1, "config": {"levels": {"notice": "caf\xe9"}}}',
        "not UTF-8",
    ),
    "invalid-bytes-in-reward": (
        "POST",
        "level-rewards",
        b'{"level": 1, "role_id": "\xff\xfe"}',
        "not UTF-8",
    ),
    "utf-16": ("POST", "level-rewards", '{"level": 1}'.encode("utf-16"), "not UTF-8"),
    "nested-100000": ("PUT", "config", _nested(100_000), f"deeper than {MAX_JSON_DEPTH}"),
    "nested-past-the-limit": (
        "PUT",
        "config",
        _nested(MAX_JSON_DEPTH),
        f"deeper than {MAX_JSON_DEPTH}",
    ),
    "nested-objects": (
        "POST",
        "level-rewards",
        b'{"level": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}",
        f"deeper than {MAX_JSON_DEPTH}",
    ),
    "huge-integer": (  # past Python's 4,300-digit limit for int()
        "POST",
        "level-rewards",
        b'{"level": 1' + b"0" * 5000 + b', "role_id": "42"}',
        "not valid JSON",
    ),
    "malformed": ("PUT", "config", b'{"expected_version": 1,', "not valid JSON"),
}


@pytest.mark.parametrize("case", BAD_JSON.values(), ids=BAD_JSON.keys())
async def test_json_bodies_the_parser_cannot_take_are_400_invalid_json(
    client: QuartClient, admin: str, bot_in_demo: int, case: tuple[str, str, bytes, str]
) -> None:
    method, route, body, reason = case
    response = await client.open(
        f"/api/v1/guilds/{bot_in_demo}/{route}",
        method=method,
        data=body,
        headers=JSON | {"X-CSRF-Token": admin},
    )
    assert response.status_code == 400, await response.get_data(as_text=True)
    error = (await response.get_json())["error"]
    assert error["code"] == "invalid_json"
    assert reason in error["message"]
    await _nothing_stored(bot_in_demo)


async def test_json_as_deep_as_the_limit_is_parsed_and_validated(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    """One level less than the refused case reaches validation (a field error, not a parse one)."""
    response = await client.put(
        f"/api/v1/guilds/{bot_in_demo}/config",
        data=_nested(MAX_JSON_DEPTH - 1),
        headers=JSON | {"X-CSRF-Token": admin},
    )
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "invalid_body"
    assert "config" in error["fields"]


@pytest.mark.parametrize(
    ("text", "deeper"),
    [
        ("[" * 32 + "]" * 32, False),
        ("[" * 33 + "]" * 33, True),
        ('{"a": "' + "[" * 100 + '"}', False),  # brackets inside strings do not count
        ('{"a": "\\"' + "[" * 100 + '"}', False),  # nor after an escaped quote
        ("[]" * 10_000, False),  # long, not deep
        ("[" * 1_000_000, True),  # stops at the limit
    ],
)
def test_json_depth_counts_nesting_outside_strings(text: str, deeper: bool) -> None:
    assert json_depth_exceeds(text, 32) is deeper


async def test_a_form_that_is_not_utf8_is_a_400_not_a_csrf_failure(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    """Quart dropped such a form whole, which then looked like a missing CSRF token (403)."""
    body = f"csrf_token={admin}&expected_version=1&cooldown_seconds=\xff".encode("latin-1")
    response = await client.post(f"/dashboard/guilds/{bot_in_demo}/xp", data=body, headers=FORM)
    assert response.status_code == 400, await response.get_data(as_text=True)
    error = (await response.get_json())["error"]
    assert (error["code"], error["message"]) == (
        "invalid_form",
        f"the form is not UTF-8 (byte {body.index(0xFF)} cannot be decoded)",
    )
    await _nothing_stored(bot_in_demo)


async def test_a_form_field_with_a_bad_escape_is_named_on_the_page(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    body = f"csrf_token={admin}&expected_version=1&cooldown_seconds=%FF".encode()
    response = await client.post(
        f"/dashboard/guilds/{bot_in_demo}/xp",
        data=body,
        headers=FORM | {"Accept": "text/html"},
    )
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert "form field 3 (&#39;cooldown_seconds&#39;) is not UTF-8" in page
    await _nothing_stored(bot_in_demo)


async def test_a_form_with_too_many_fields_is_refused(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    fields = "&".join(f"f{n}=1" for n in range(MAX_FORM_FIELDS))
    body = f"csrf_token={admin}&{fields}".encode()
    response = await client.post(f"/dashboard/guilds/{bot_in_demo}/xp", data=body, headers=FORM)
    assert response.status_code == 400
    assert f"more than {MAX_FORM_FIELDS} fields" in (await response.get_json())["error"]["message"]
    await _nothing_stored(bot_in_demo)


async def test_a_non_ascii_csrf_token_is_a_403_not_a_500(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    """`hmac.compare_digest` raises TypeError on non-ASCII text; the tokens are compared as
    bytes."""
    body = b"csrf_token=caf%C3%A9&expected_version=1"
    response = await client.post(f"/dashboard/guilds/{bot_in_demo}/xp", data=body, headers=FORM)
    assert response.status_code == 403, await response.get_data(as_text=True)
    assert (await response.get_json())["error"]["code"] == "csrf_failed"
    response = await client.put(
        f"/api/v1/guilds/{bot_in_demo}/config",
        json={"expected_version": 1, "config": {}},
        headers={"X-CSRF-Token": "caf\u00e9"},
    )
    assert response.status_code == 403, await response.get_data(as_text=True)
    await _nothing_stored(bot_in_demo)
