"""`/internal/v1`: the service token (every route refuses a request without it; it is never
logged; a development token is generated once). The XP routes behind the shards' commands are
tested in `tests/http/features/xp/test_internal_api.py`.

Against the test run's PostgreSQL and a fresh Redis namespace, through `app.test_client()`.
"""

from __future__ import annotations

import stat
import typing

import pytest

from tests.support.web import error_code, service_bearer
from townsquare.core.commands_api import DEV_SERVICE_FILE, service_token

if typing.TYPE_CHECKING:
    import io

    from quart.testing import QuartClient

    from townsquare.core.settings import Settings

GUILD = 4_444_000_000_000_000_001
ADA = 5_000_000_000_000_003


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
    ],
)
async def test_without_the_service_token_every_route_is_401(
    client: QuartClient, headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", f"/internal/v1/guilds/{GUILD}/leaderboard"),
        ("GET", f"/internal/v1/guilds/{GUILD}/members/{ADA}/rank"),
        ("GET", f"/internal/v1/guilds/{GUILD}/config"),
        ("POST", f"/internal/v1/guilds/{GUILD}/members/{ADA}/xp/add"),
        ("POST", f"/internal/v1/guilds/{GUILD}/xp/reset"),
    ]:
        response = await client.open(path, method=method, headers=headers, json={})
        assert response.status_code == 401, path
        assert await error_code(response) == "unauthorized"


async def test_the_token_is_never_logged(
    client: QuartClient, settings: Settings, json_log: io.StringIO
) -> None:
    token = service_token(settings)
    await client.get(f"/internal/v1/guilds/{GUILD}/config", headers=service_bearer(settings))
    await client.get(
        f"/internal/v1/guilds/{GUILD}/config", headers={"Authorization": f"Bearer {token}x"}
    )
    logged = json_log.getvalue()
    assert logged.count('"event":"request"') == 2  # the requests were logged ...
    assert token not in logged  # ... without the token


async def test_a_dev_token_is_generated_once_in_var_with_mode_600(settings: Settings) -> None:
    assert settings.http.service_token is None and settings.uses_sandbox
    first = service_token(settings)
    path = settings.paths.var_dir / DEV_SERVICE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert service_token(settings) == first
    assert len(first) >= 32
