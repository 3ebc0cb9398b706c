"""Every JSON body the sandbox's REST API serves validates against Discord's OpenAPI spec.

The test walks every route the sandbox serves (a route without a case here fails the test),
calls it, and validates the body against the spec's response schema for that path, method and
status, including error bodies (`4XX` -> ErrorResponse). The few routes Discord serves but the
spec leaves out (the OAuth2 token endpoint) are checked against the shapes Discord documents.
"""

from __future__ import annotations

import datetime
import io
import json
import typing
import urllib.parse
from pathlib import Path

import aiohttp
import jsonschema
import pytest
import referencing

from townsquare.sandbox import Sandbox, SandboxSettings
from townsquare.sandbox.rest import API_PREFIX, Bucket, RateLimitSettings
from townsquare.sandbox.world.interactions import create_command_interaction
from townsquare.sandbox.world.permissions import Permission

# Discord's official spec (MIT), vendored from shared/discord-api-spec so CI needs nothing else.
SPEC_PATH = Path(__file__).resolve().parent / "discord_api_spec" / "openapi.json"
SPEC_URI = "urn:discord-openapi"


class Case(typing.NamedTuple):
    method: str
    route: str
    body: typing.Any = None
    """JSON body; strings like `"{target_id}"` are filled in from the test's parameters."""
    query: str = ""
    status: int = 200
    form: dict[str, str] | None = None
    """Sent form-encoded instead of `body`; `{code}`, `{secret}`... are filled in."""
    bearer: bool = False
    """Authenticate with a user's bearer token instead of the bot token."""
    files: dict[str, bytes] | None = None
    """Sent as multipart: `body` as `payload_json`, each file as `files[n]`."""


# Routes Discord serves but its OpenAPI spec leaves out, with the shapes Discord documents
# (docs: "Authorization Code Grant" access token response; OAuth2 error responses, RFC 6749).
_TOKEN_RESPONSE = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "refresh_token", "scope"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
    },
    "additionalProperties": False,
}
_OAUTH_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    "additionalProperties": False,
}
UNDOCUMENTED: dict[tuple[str, str], dict[int, dict[str, typing.Any]]] = {
    ("POST", "/oauth2/token"): {200: _TOKEN_RESPONSE, 400: _OAUTH_ERROR, 401: _OAUTH_ERROR},
    ("POST", "/oauth2/token/revoke"): {
        200: {"type": "object", "maxProperties": 0},
        401: _OAUTH_ERROR,
    },
}


WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"
MEMBER = "/guilds/{guild_id}/members/{target_id}"
BAN = "/guilds/{guild_id}/bans/{ban_id}"
COMMANDS = "/applications/{application_id}/commands"
ENTITLEMENTS = "/applications/{application_id}/entitlements"
GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"
OPTION = {"type": 6, "name": "user", "description": "Whose rank", "required": False}
ALIASES = {
    "{mod_role_id}": "{role_id}",
    "{unknown_id}": "{channel_id}",
    "{target_id}": "{user_id}",
    "{kick_id}": "{user_id}",
    "{ban_id}": "{user_id}",
    "{followup_id}": "{message_id}",
    "{new_role_id}": "{role_id}",
    "{unknown_token}": "{webhook_token}",
    "{doomed_id}": "{channel_id}",
    "{invite_code}": "{code}",
    "{unknown_code}": "{code}",
}
"""Test placeholders and the spec's parameter names they stand for."""

CASES: list[Case] = [
    Case("GET", "/gateway"),
    Case("GET", "/gateway/bot"),
    Case("GET", "/users/@me"),
    Case("GET", "/users/@me", bearer=True),
    Case("GET", "/users/@me/guilds", query="?with_counts=true"),
    Case("GET", "/users/@me/guilds", bearer=True),
    Case("GET", "/users/@me/guilds/{guild_id}/member", bearer=True),
    Case("GET", "/oauth2/@me", bearer=True),
    Case("GET", "/oauth2/@me", status=401),
    Case("POST", "/oauth2/token/revoke", form={"token": "{revoke_token}"}),
    Case("POST", "/oauth2/token/revoke", form={"token": "x", "client_secret": "no"}, status=401),
    Case("POST", "/oauth2/token", form={"grant_type": "authorization_code", "code": "{code}"}),
    Case(
        "POST",
        "/oauth2/token",
        form={"grant_type": "authorization_code", "code": "{code}"},
        status=400,
    ),
    Case(
        "POST",
        "/oauth2/token",
        form={"grant_type": "refresh_token", "client_secret": "no"},
        status=401,
    ),
    Case("GET", "/users/{user_id}"),
    Case("GET", "/oauth2/applications/@me"),
    Case("GET", "/channels/{channel_id}"),
    Case("GET", "/channels/{channel_id}/messages", query="?limit=10"),
    Case("POST", "/channels/{channel_id}/messages", {"content": "spec check"}),
    Case("POST", "/channels/{channel_id}/messages", {"content": "x" * 2001}, status=400),
    Case(
        "POST",
        "/channels/{channel_id}/messages",
        {"content": "with a file", "attachments": [{"id": 0, "filename": "card.png"}]},
        files={"card.png": b"\x89PNG"},
    ),
    Case("GET", "/channels/{channel_id}/messages/{message_id}"),
    # The demo bot may not manage webhooks (tests/sandbox/test_channel_webhooks.py makes one).
    Case("POST", "/channels/{channel_id}/webhooks", {"name": "ops"}, status=403),
    Case("PATCH", "/channels/{channel_id}/messages/{message_id}", {"content": "edited"}),
    Case("DELETE", "/channels/{channel_id}/messages/{message_id}", status=204),
    Case(
        "POST", "/channels/{channel_id}/messages/bulk-delete", {"messages": ["1", "2"]}, status=400
    ),
    Case("GET", "/guilds/{guild_id}", query="?with_counts=true"),
    # The demo's bot has no Manage Server: Discord's 403 (tests/sandbox/test_moderation_needs.py
    # changes the level with the permission).
    Case("PATCH", "/guilds/{guild_id}", {"verification_level": 3}, status=403),
    Case("GET", "/guilds/{guild_id}/channels"),
    Case("GET", "/guilds/{guild_id}/roles"),
    Case("GET", "/guilds/{guild_id}/members", query="?limit=100"),
    Case("GET", "/guilds/{guild_id}/members/{user_id}"),
    Case("GET", "/guilds/{guild_id}/members/search", query="?query=a&limit=10"),
    Case("GET", "/guilds/{guild_id}/members/search", status=400),
    Case("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", status=204),
    Case("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", status=204),
    Case("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{mod_role_id}", status=403),
    Case("GET", "/channels/{unknown_id}", status=404),
    Case(
        "POST",
        "/interactions/{interaction_id}/{interaction_token}/callback",
        {"type": 4, "data": {"content": "pong"}},
        query="?with_response=true",
    ),
    Case(
        "POST",
        "/interactions/{interaction_id}/{interaction_token}/callback",
        {"type": 4, "data": {"content": "again"}},
        status=400,
    ),
    # Interaction follow-ups and @original (the interaction was answered just above).
    Case("POST", WEBHOOK, {"content": "follow-up"}, query="?wait=true"),
    Case("POST", "/webhooks/{webhook_id}/{unknown_token}", {"content": "x"}, status=401),
    Case("GET", WEBHOOK + "/messages/@original"),
    Case("PATCH", WEBHOOK + "/messages/@original", {"content": "pong!"}),
    Case("GET", WEBHOOK + "/messages/{followup_id}"),
    Case("PATCH", WEBHOOK + "/messages/{followup_id}", {"content": "follow-up!"}),
    Case("DELETE", WEBHOOK + "/messages/{followup_id}", status=204),
    Case("DELETE", WEBHOOK + "/messages/@original", status=204),
    Case("GET", WEBHOOK + "/messages/@original", status=404),
    # Moderation.
    Case("PATCH", MEMBER, {"nick": "Spec", "communication_disabled_until": "{timeout}"}),
    Case("PATCH", MEMBER, {"communication_disabled_until": "{too_far}"}, status=400),
    Case("PATCH", "/guilds/{guild_id}/members/{user_id}", {"nick": "owner"}, status=403),
    Case("DELETE", "/guilds/{guild_id}/members/{kick_id}", status=204),
    Case("PUT", BAN, {"delete_message_seconds": 604801}, status=400),
    Case("PUT", BAN, {"delete_message_seconds": 60}, status=204),
    Case("GET", "/guilds/{guild_id}/bans"),
    Case("GET", BAN),
    Case("DELETE", BAN, status=204),
    Case("GET", BAN, status=404),
    Case("POST", "/users/@me/channels", {"recipient_id": "{target_id}"}),
    # Roles.
    Case("POST", "/guilds/{guild_id}/roles", {"name": "Spec Role", "color": 255}),
    Case("POST", "/guilds/{guild_id}/roles", {"permissions": "8"}, status=403),
    Case("GET", "/guilds/{guild_id}/roles/{role_id}"),
    Case("PATCH", "/guilds/{guild_id}/roles/{new_role_id}", {"name": "Renamed"}),
    Case("PATCH", "/guilds/{guild_id}/roles/{mod_role_id}", {"name": "Mine"}, status=403),
    Case("DELETE", "/guilds/{guild_id}/roles/{new_role_id}", status=204),
    # Entitlements.
    Case("POST", ENTITLEMENTS, {"sku_id": "{sku_id}", "owner_id": "{target_id}", "owner_type": 2}),
    Case(
        "POST",
        ENTITLEMENTS,
        {"sku_id": "1", "owner_id": "{target_id}", "owner_type": 2},
        status=400,
    ),
    Case("GET", ENTITLEMENTS, query="?exclude_ended=true"),
    Case("GET", ENTITLEMENTS + "/{entitlement_id}"),
    Case("POST", ENTITLEMENTS + "/{entitlement_id}/consume", status=204),
    Case("POST", ENTITLEMENTS + "/{entitlement_id}/consume", status=400),
    Case("DELETE", ENTITLEMENTS + "/{entitlement_id}", status=204),
    Case("GET", ENTITLEMENTS + "/{entitlement_id}", status=404),
    # Application commands.
    Case("PUT", COMMANDS, [{"name": "rank", "description": "Your level", "options": [OPTION]}]),
    Case("PUT", COMMANDS, [{"name": "Bad Name", "description": "x"}], status=400),
    Case("GET", COMMANDS),
    Case("PUT", GUILD_COMMANDS, [{"name": "Report", "type": 2}]),
    Case("GET", GUILD_COMMANDS),
    # Anti-nuke's routes (the walk grants the bot Manage Channels and View Audit Log): the
    # log read last, with the entries the cases above made.
    Case("DELETE", "/channels/{doomed_id}"),
    Case("DELETE", "/channels/{unknown_id}", status=404),
    Case("GET", "/invites/{invite_code}"),
    Case("GET", "/invites/{unknown_code}", status=404),
    Case("GET", "/guilds/{guild_id}/audit-logs", query="?limit=101", status=400),
    Case("GET", "/guilds/{guild_id}/audit-logs", query="?limit=100"),
]


@pytest.fixture(scope="module")
def spec() -> dict[str, typing.Any]:
    return typing.cast("dict[str, typing.Any]", json.loads(SPEC_PATH.read_text()))


def response_schema(
    spec: dict[str, typing.Any], route: str, method: str, status: int
) -> str | None:
    """A `$ref` URI to the documented schema, None for a documented empty body."""
    responses = spec["paths"][route][method.lower()]["responses"]
    key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
    assert key in responses, f"{method} {route} does not document status {status}"
    response = responses[key]
    pointer = ["paths", route, method.lower(), "responses", key]
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#/").split("/")
        response = spec["components"]["responses"][pointer[-1]]
    if "content" not in response:
        return None
    pointer += ["content", "application/json", "schema"]
    escaped = "/".join(p.replace("~", "~0").replace("/", "~1") for p in pointer)
    return f"{SPEC_URI}#/{urllib.parse.quote(escaped, safe='/~')}"


def spec_view(body: typing.Any) -> typing.Any:
    """The body with the one known spec deviation undone.

    Discord sends field errors as `{"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", ...}]}` with
    string codes (hikari and every client read them so); the spec's `Error` schema types
    `code` as an integer. The sandbox keeps Discord's real strings; here they become 0 so the
    rest of the body is still checked against the spec.
    """
    if isinstance(body, dict):
        return {
            k: [e | {"code": 0} for e in v] if k == "_errors" else spec_view(v)
            for k, v in body.items()
        }
    return body


def spec_path(route: str) -> str:
    for placeholder, name in ALIASES.items():
        route = route.replace(placeholder, name)
    return route


def filled(value: typing.Any, params: dict[str, typing.Any]) -> typing.Any:
    if isinstance(value, str) and value.startswith("{"):
        return str(params[value.strip("{}")])
    if isinstance(value, dict):
        return {k: filled(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [filled(v, params) for v in value]
    return value


def served_routes(sandbox: Sandbox) -> set[tuple[str, str]]:
    app = sandbox._runner.app  # type: ignore[union-attr]
    return {
        (route.method, route.resource.canonical.removeprefix(API_PREFIX))
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(API_PREFIX + "/")
        and route.method != "HEAD"
    }


@pytest.fixture
async def roomy_sandbox() -> typing.AsyncIterator[Sandbox]:
    """A sandbox whose rate limits the walk (~80 requests in well under a second) stays under;
    the limits themselves are tested in test_sandbox_rest.py."""
    roomy = Bucket(10_000, 1.0)
    limits = RateLimitSettings(routes={}, default=roomy, global_per_second=10_000)
    sandbox = Sandbox(settings=SandboxSettings(rate_limits=limits))
    async with sandbox:
        yield sandbox


async def test_every_served_body_matches_the_spec(
    spec: dict[str, typing.Any], roomy_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox, info = roomy_sandbox, roomy_sandbox.info
    covered = {(c.method, spec_path(c.route)) for c in CASES}
    assert served_routes(sandbox) == covered, "every served route needs a case here"

    registry = referencing.Registry().with_resource(
        SPEC_URI,
        referencing.Resource.from_contents(
            spec, default_specification=referencing.jsonschema.DRAFT202012
        ),
    )
    guild = next(iter(sandbox.world.guilds.values()))
    roles = {r.name: r.id for r in guild.roles.values()}
    member = next(m for m in guild.members if m != info.application_id)
    params = {
        "guild_id": guild.id,
        "channel_id": next(c.id for c in guild.channels.values() if c.name == "general"),
        "user_id": member,
        "role_id": roles["Level 5 · Newcomer"],
        "mod_role_id": roles["Moderator"],
        "unknown_id": 1,
        "message_id": 0,
    }
    interaction = create_command_interaction(
        sandbox.world,
        guild,
        guild.channels[params["channel_id"]],
        user_id=member,
        name="rank",
        options=[],
    )
    params |= {
        "doomed_id": next(c.id for c in guild.channels.values() if c.name == "media"),
        "invite_code": "spec-check",
        "unknown_code": "nope",
    }
    guild.invites["spec-check"] = params["channel_id"]
    bot_role = next(r for r in guild.roles.values() if r.name == "Townsquare")
    bot_role.permissions |= Permission.MANAGE_CHANNELS | Permission.VIEW_AUDIT_LOG
    people = {sandbox.world.users[m].username: m for m in guild.members}
    now = sandbox.world.clock()
    params |= {
        "interaction_id": interaction.id,
        "interaction_token": interaction.token,
        "webhook_id": info.application_id,
        "webhook_token": interaction.token,
        "unknown_token": "nope",
        "application_id": info.application_id,
        "sku_id": sandbox.world.application.sku_id,
        "target_id": people["wren"],
        "kick_id": people["alder"],
        "ban_id": people["bryony"],
        "timeout": (now + datetime.timedelta(days=1)).isoformat(),
        "too_far": (now + datetime.timedelta(days=29)).isoformat(),
    }
    redirect = "http://127.0.0.1/callback"
    scopes = ("identify", "guilds", "guilds.members.read")
    code = sandbox.oauth.issue_code(member, scopes, redirect)
    bearer, doomed = (
        sandbox.oauth.exchange_code(sandbox.oauth.issue_code(member, scopes, redirect), redirect)
        for _ in range(2)
    )
    fill = {"code": code, "redirect": redirect, "revoke_token": doomed.access_token}
    failures: list[str] = []
    for case in CASES:
        url = info.rest_url + case.route.format(**params) + case.query
        token = f"Bearer {bearer.access_token}" if case.bearer else f"Bot {info.bot_token}"
        headers = {"Authorization": token}
        sent: dict[str, typing.Any] = {"json": filled(case.body, params)}
        if case.files is not None:
            multipart = aiohttp.FormData()
            multipart.add_field(
                "payload_json", json.dumps(case.body), content_type="application/json"
            )
            for index, (name, data) in enumerate(case.files.items()):
                multipart.add_field(
                    f"files[{index}]", io.BytesIO(data), filename=name, content_type="image/png"
                )
            sent = {"data": multipart}
        if case.form is not None:
            form = {
                "client_id": str(info.oauth_client_id),
                "client_secret": info.oauth_client_secret,
            }
            form |= {"redirect_uri": redirect} | {k: v.format(**fill) for k, v in case.form.items()}
            sent, headers = {"data": form}, {}
        async with http.request(case.method, url, headers=headers, **sent) as response:
            assert response.status == case.status, f"{case}: {await response.text()}"
            body = await response.json() if response.status != 204 else None
        if case.route.endswith("/messages") and case.method == "POST" and case.status == 200:
            params["message_id"] = int(body["id"])
        if case.route == WEBHOOK and case.status == 200:
            params["followup_id"] = int(body["id"])
        if case.route == ENTITLEMENTS and case.method == "POST" and case.status == 200:
            params["entitlement_id"] = int(body["id"])
        if case.route.endswith("/roles") and case.method == "POST" and case.status == 200:
            params["new_role_id"] = int(body["id"])
        spec_route = spec_path(case.route)
        undocumented = UNDOCUMENTED.get((case.method, spec_route))
        if undocumented is not None:
            failures += [
                f"{case.method} {case.route} {case.status}: {e.json_path}: {e.message}"
                for e in jsonschema.Draft202012Validator(undocumented[case.status]).iter_errors(
                    body
                )
            ]
            continue
        ref = response_schema(spec, spec_route, case.method, case.status)
        if ref is None:
            assert body is None, f"{case}: body where the spec documents none"
            continue
        validator = jsonschema.Draft202012Validator({"$ref": ref}, registry=registry)
        failures += [
            f"{case.method} {case.route} {case.status}: {e.json_path}: {e.message}"
            for e in validator.iter_errors(spec_view(body))
        ]
    assert not failures, "\n".join(failures[:30])


@pytest.mark.parametrize(
    "limits",
    [RateLimitSettings(default=Bucket(1, 60.0)), RateLimitSettings(global_per_second=1)],
    ids=["bucket", "global"],
)
async def test_rate_limited_bodies_match_the_spec(
    spec: dict[str, typing.Any], http: aiohttp.ClientSession, limits: RateLimitSettings
) -> None:
    registry = referencing.Registry().with_resource(
        SPEC_URI,
        referencing.Resource.from_contents(
            spec, default_specification=referencing.jsonschema.DRAFT202012
        ),
    )
    async with Sandbox(settings=SandboxSettings(rate_limits=limits)) as info:
        headers = {"Authorization": f"Bot {info.bot_token}"}
        statuses = []
        # Three quick requests: a fixed one-second window can reset at most once among them.
        for _ in range(3):
            async with http.get(info.rest_url + "/users/@me", headers=headers) as response:
                statuses.append(response.status)
                if response.status == 429:
                    body = await response.json()
                    break
    assert statuses[0] == 200
    assert statuses[-1] == 429
    ref = response_schema(spec, "/users/@me", "GET", 429)
    assert ref is not None
    validator = jsonschema.Draft202012Validator({"$ref": ref}, registry=registry)
    assert not [e.message for e in validator.iter_errors(body)]
    assert body["global"] is (limits.global_per_second == 1)
