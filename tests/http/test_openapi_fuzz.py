"""Property-based testing of the whole OpenAPI description with schemathesis (issue 10, item 6).

The real app is served by hypercorn on a free loopback port, in this test's event loop, against
the test run's PostgreSQL, a fresh Redis namespace and a real sandbox (its Discord REST answers
the role and channel lookups). Schemathesis generates requests from `/openapi.json` in a worker
thread, sends them over HTTP and runs every check it has on each answer: no 5xx, documented
status codes, content types, headers and bodies matching their schemas, schema-invalid data
refused, schema-valid data accepted, authentication enforced.

Every operation is run twice: once with its guild pinned to the demo guild (so requests reach
the handlers, signed in as the guild's owner with the session's CSRF token, and with an API key
for `/public/v1`), once with every parameter generated (mostly other guilds: the refusals).
`POST /auth/logout` runs last, as it ends the session the others use.

What the schema cannot say: whether a role or channel id is the guild's, and the guild's own
`xp.max_level`. Those refusals (400) are expected for schema-valid data of the two operations
that check them; nothing else is relaxed.
"""

from __future__ import annotations

import asyncio
import time
import typing

import aiohttp
import pytest
import requests
import schemathesis
import yarl
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config
from hypercorn.utils import wrap_app
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from tests.support.web import consent
from tests.support.world import user_named
from townsquare.core.audit.service import Actor
from townsquare.features.apikeys.domain.gate import RateLimit
from townsquare.features.apikeys.domain.service import create_key
from townsquare.features.apikeys.web.gate import RATE_LIMIT_CONFIG

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.sandbox import Sandbox

MAX_EXAMPLES: typing.Final = 20
"""Per operation, per generation mode, per run (pinned and free): about 650 requests in all."""
LOGOUT: typing.Final = ("POST", "/auth/logout")
CONFIG: typing.Final = """
[checks]
# Every check schemathesis has stays on (the default). The one exception, for the only two
# operations whose refusals depend on the guild (are these roles and channels the server's;
# is this level within its xp.max_level; does the platform have this creator): schema-valid
# data may be answered 400 (or 404 for an unknown creator) there.
[[operations]]
include-name = [
    "PUT /api/v1/guilds/{guild_id}/config",
    "POST /api/v1/guilds/{guild_id}/level-rewards",
    "POST /api/v1/guilds/{guild_id}/stream-feeds",
]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]
"""


@pytest.fixture
async def served(unstarted_app: Quart) -> AsyncIterator[str]:
    """The app under hypercorn on a free loopback port; its base URL."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 2.0
    sockets = config.create_sockets()
    for sock in sockets.insecure_sockets:
        sock.listen(128)  # connections wait in the backlog until hypercorn serves them
    host, port = sockets.insecure_sockets[0].getsockname()[:2]
    unstarted_app.config[RATE_LIMIT_CONFIG] = RateLimit(requests=1_000_000, window_seconds=60)
    shutdown = asyncio.Event()
    server = asyncio.create_task(
        worker_serve(
            wrap_app(unstarted_app, config.wsgi_max_body_size, None),
            config,
            sockets=sockets,
            shutdown_trigger=shutdown.wait,
        )
    )
    try:
        yield f"http://{host}:{port}"
    finally:
        shutdown.set()
        await server


async def _owner_session(base: str, sandbox: Sandbox) -> tuple[dict[str, str], str]:
    """Log in through the sandbox's OAuth2 as the demo guild's owner: the session's cookies
    and its CSRF token."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{base}/auth/login", allow_redirects=False) as login:
            assert login.status == 302, await login.text()
            authorize = yarl.URL(login.headers["Location"])
        callback = await consent(http, authorize, user_named(sandbox, "mayor"))
        async with http.get(
            yarl.URL(base).with_path(callback.path).with_query(callback.query),
            allow_redirects=False,
        ) as answer:
            assert answer.status == 302, await answer.text()
        cookies = {c.key: c.value for c in jar}
        async with http.get(f"{base}/api/v1/me") as me:
            assert me.status == 200, await me.text()
            csrf = (await me.json())["csrf_token"]
    return {name: cookies[name] for name in ("ts_session", "ts_refresh")}, csrf


def _fuzz(
    schema: typing.Any,
    base: str,
    headers: dict[str, str],
    cookies: dict[str, str],
    guild_id: int,
) -> int:
    """Run every operation (logout last) in both modes, pinned and free; the cases sent."""
    sent = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: (op.method.upper(), op.path) == LOGOUT)
    session = requests.Session()
    for operation in operations:
        pinned = {
            name: guild_id
            for name in ("guild_id", "guild")
            if any(p.name == name for p in operation.path_parameters)
        }
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path_parameters in ({**pinned}, {}) if pinned else ({},):
                strategy = operation.as_strategy(
                    generation_mode=mode,
                    path_parameters=path_parameters or None,
                    headers=headers,
                    cookies=cookies,
                )

                @settings(
                    max_examples=MAX_EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def check(case: typing.Any) -> None:
                    nonlocal sent
                    case.call_and_validate(base_url=base, session=session)
                    sent += 1

                try:
                    check()
                except Unsatisfiable:
                    # Negative mode on an operation with nothing to get wrong but the fixed
                    # session (GET /api/v1/guilds): no such case exists. ignored_auth, in
                    # positive mode, sends each request without its credentials instead.
                    assert mode is GenerationMode.NEGATIVE
                except Exception as error:
                    error.add_note(f"{operation.method.upper()} {operation.path} ({mode.value})")
                    raise
    return sent


@pytest.mark.long
@pytest.mark.timeout(600)  # bounded: the operations times MAX_EXAMPLES cases each
async def test_every_route_conforms_to_its_openapi_description(
    served: str, sandbox: Sandbox, bot_in_demo: int
) -> None:
    cookies, csrf = await _owner_session(served, sandbox)
    key = (await create_key(bot_in_demo, "fuzz", Actor.system())).token
    headers = {"X-CSRF-Token": csrf, "Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as http, http.get(f"{served}/openapi.json") as answer:
        spec = await answer.json()
    schema = schemathesis.openapi.from_dict(spec, config=SchemathesisConfig.from_str(CONFIG))
    started = time.monotonic()
    sent = await asyncio.to_thread(_fuzz, schema, served, headers, cookies, bot_in_demo)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {sent} cases in {elapsed:.1f} s")
    assert sent > 200


async def test_the_description_has_the_answers_and_constraints_of_issue_10(
    client: QuartClient,
) -> None:
    """Each gap item 6 names, looked up in the description."""
    spec = await (await client.get("/openapi.json")).get_json()
    paths = spec["paths"]
    guild = "/api/v1/guilds/{guild_id}"
    put = paths[f"{guild}/config"]["put"]
    assert {"200", "400", "401", "403", "404", "409", "503"} <= set(put["responses"])
    assert put["responses"]["400"]["content"]["application/json"]["schema"]["title"] == "ErrorBody"
    delete = paths[f"{guild}/level-rewards/{{reward_id}}"]["delete"]
    assert "204" in delete["responses"]
    assert "content" not in delete["responses"]["204"]
    reward_id = next(p for p in delete["parameters"] if p["name"] == "reward_id")
    assert reward_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    card = paths["/public/v1/guilds/{guild}/members/{user_id}/rank-card.png"]["get"]
    assert "image/png" in card["responses"]["200"]["content"]
    schemas = spec["components"]["schemas"]
    multipliers = schemas["XPSection"]["properties"]["channel_multipliers"]
    assert multipliers["propertyNames"]["pattern"].startswith("^(?:[1-9]")
    assert multipliers["maxProperties"] == 500
    template = schemas["NoticeSection"]["properties"]["template"]
    assert template["pattern"] == "^[^\\u0000]*$"
    post = paths[f"{guild}/level-rewards"]["post"]
    level = post["requestBody"]["content"]["application/json"]["schema"]["properties"]["level"]
    assert level["maximum"] == 10_000
    assert "xp.max_level" in level["description"]
