"""Every JSON body the sandbox's REST API serves validates against Discord's OpenAPI spec.

The test walks every route the sandbox serves (a route without a case here fails the test),
calls it, and validates the body against the spec's response schema for that path, method and
status, including error bodies (`4XX` -> ErrorResponse).
"""

from __future__ import annotations

import json
import typing
import urllib.parse
from pathlib import Path

import jsonschema
import pytest
import referencing

from townsquare.sandbox.rest import API_PREFIX
from townsquare.sandbox.world.interactions import create_command_interaction

if typing.TYPE_CHECKING:
    import aiohttp

    from townsquare.sandbox import Sandbox, SandboxInfo

# Discord's official spec (MIT), vendored from shared/discord-api-spec so CI needs nothing else.
SPEC_PATH = Path(__file__).resolve().parent / "discord_api_spec" / "openapi.json"
SPEC_URI = "urn:discord-openapi"


class Case(typing.NamedTuple):
    method: str
    route: str
    body: dict[str, typing.Any] | None = None
    query: str = ""
    status: int = 200


CASES: list[Case] = [
    Case("GET", "/gateway"),
    Case("GET", "/gateway/bot"),
    Case("GET", "/users/@me"),
    Case("GET", "/users/{user_id}"),
    Case("GET", "/oauth2/applications/@me"),
    Case("GET", "/channels/{channel_id}"),
    Case("GET", "/channels/{channel_id}/messages", query="?limit=10"),
    Case("POST", "/channels/{channel_id}/messages", {"content": "spec check"}),
    Case("POST", "/channels/{channel_id}/messages", {"content": "x" * 2001}, status=400),
    Case("GET", "/channels/{channel_id}/messages/{message_id}"),
    Case("PATCH", "/channels/{channel_id}/messages/{message_id}", {"content": "edited"}),
    Case("DELETE", "/channels/{channel_id}/messages/{message_id}", status=204),
    Case("GET", "/guilds/{guild_id}", query="?with_counts=true"),
    Case("GET", "/guilds/{guild_id}/channels"),
    Case("GET", "/guilds/{guild_id}/roles"),
    Case("GET", "/guilds/{guild_id}/members", query="?limit=100"),
    Case("GET", "/guilds/{guild_id}/members/{user_id}"),
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


def served_routes(sandbox: Sandbox) -> set[tuple[str, str]]:
    app = sandbox._runner.app  # type: ignore[union-attr]
    return {
        (route.method, route.resource.canonical.removeprefix(API_PREFIX))
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(API_PREFIX + "/")
        and route.method != "HEAD"
    }


async def test_every_served_body_matches_the_spec(
    spec: dict[str, typing.Any], sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession
) -> None:
    covered = {
        (c.method, c.route)
        for c in CASES
        if "{mod_role_id}" not in c.route and "{unknown_id}" not in c.route
    }
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
    params |= {"interaction_id": interaction.id, "interaction_token": interaction.token}
    headers = {"Authorization": f"Bot {info.bot_token}"}
    failures: list[str] = []
    for case in CASES:
        url = info.rest_url + case.route.format(**params) + case.query
        async with http.request(case.method, url, json=case.body, headers=headers) as response:
            assert response.status == case.status, f"{case}: {await response.text()}"
            body = await response.json() if response.status != 204 else None
        if case.route.endswith("/messages") and case.method == "POST" and case.status == 200:
            params["message_id"] = int(body["id"])
        spec_route = case.route.replace("{mod_role_id}", "{role_id}").replace(
            "{unknown_id}", "{channel_id}"
        )
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
