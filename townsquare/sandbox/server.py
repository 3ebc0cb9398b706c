"""The sandbox server: one aiohttp app serving the gateway, REST and control API."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import typing

from aiohttp import web

from townsquare.sandbox.control import CONTROL_PREFIX, ControlApi
from townsquare.sandbox.control.faults import RestFaults
from townsquare.sandbox.crowd import Crowd
from townsquare.sandbox.gateway import GATEWAY_PATH, GatewayHub, GatewaySettings, gateway_routes
from townsquare.sandbox.gemini import LoopbackGemini
from townsquare.sandbox.oauth import AUTHORIZE_PATH, OAuthStore, consent_routes
from townsquare.sandbox.platforms import LoopbackPlatforms
from townsquare.sandbox.rest import API_PREFIX, RateLimitSettings, RestApi
from townsquare.sandbox.rest.uploads import MAX_FILE_SIZE, MAX_FILES, cdn_routes
from townsquare.sandbox.world import Scenario, build_world, load_scenario

if typing.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType

    from townsquare.sandbox.world import World

__all__ = ["Sandbox", "SandboxInfo", "SandboxSettings", "run_sandbox"]


@dataclasses.dataclass(frozen=True, slots=True)
class SandboxInfo:
    """What a client needs to talk to a running sandbox."""

    rest_url: str
    """REST base, for hikari's `rest_url` (ends in /api/v10)."""
    gateway_url: str
    bot_token: str
    application_id: int
    oauth_client_id: int
    oauth_client_secret: str
    control_url: str
    sku_id: int
    """The application's premium SKU (what entitlements are to)."""
    identify_interval: float = 0.0
    """`GatewaySettings.identify_interval`: seconds between two IDENTIFYs of one bucket that the
    gateway enforces (0: not checked). Shard processes pace their IDENTIFYs by it."""

    @property
    def authorize_url(self) -> str:
        """The OAuth2 consent page (Discord's `https://discord.com/oauth2/authorize`)."""
        return self.rest_url.removesuffix(API_PREFIX) + AUTHORIZE_PATH

    def as_json(self) -> dict[str, str]:
        """All fields as strings; snowflakes as strings, as Discord's JSON has them."""
        return {key: str(value) for key, value in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True, slots=True)
class SandboxSettings:
    gateway: GatewaySettings = dataclasses.field(default_factory=GatewaySettings)
    rate_limits: RateLimitSettings = dataclasses.field(default_factory=RateLimitSettings)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Sandbox:
    """A loopback Discord. `async with Sandbox() as info:` serves until the block ends."""

    def __init__(
        self,
        *,
        scenario: str | Path | Scenario = "demo",
        host: str = "127.0.0.1",
        port: int = 0,
        settings: SandboxSettings | None = None,
        clock: Callable[[], datetime.datetime] = _utc_now,
        crowd_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        settings = settings or SandboxSettings()
        loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.world: World = build_world(loaded, clock=clock)
        self.hub = GatewayHub(self.world, settings.gateway)
        self.oauth = OAuthStore(self.world.application, clock)
        self.faults = RestFaults(seed=seed)
        """Injected REST faults (`POST /_sandbox/faults/rest`)."""
        self.rest = RestApi(self.hub, settings.rate_limits, self.oauth, self.faults)
        self.crowd = Crowd(self.world, seed=seed, rate=crowd_rate)
        self.control = ControlApi(self.hub, self.rest, self.crowd)
        self.platforms = LoopbackPlatforms()
        """Loopback Twitch, Kick and YouTube on the same port (townsquare.sandbox.platforms)."""
        self.gemini = LoopbackGemini()
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._info: SandboxInfo | None = None

    @property
    def info(self) -> SandboxInfo:
        if self._info is None:
            msg = "the sandbox is not running; call start() first"
            raise RuntimeError(msg)
        return self._info

    async def start(self) -> SandboxInfo:
        if self._runner is not None:
            msg = "the sandbox is already running"
            raise RuntimeError(msg)
        app = web.Application(
            middlewares=[self.control.middleware, self.rest.middleware],
            client_max_size=MAX_FILES * MAX_FILE_SIZE + 1024 * 1024,
        )
        app.add_routes(
            [
                *gateway_routes(self.hub),
                *self.rest.routes(),
                *self.control.routes(),
                *consent_routes(self.world, self.oauth),
                *cdn_routes(self.world),
                *self.platforms.routes(),
                *self.gemini.routes(CONTROL_PREFIX),
            ]
        )
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        host = "127.0.0.1" if self._host in {"0.0.0.0", ""} else self._host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        base = f"http://{host}:{port}"
        self.hub.gateway_url = f"ws://{host}:{port}{GATEWAY_PATH}"
        self.world.cdn_base = base
        application = self.world.application
        self._info = SandboxInfo(
            rest_url=base + API_PREFIX,
            gateway_url=self.hub.gateway_url,
            bot_token=application.bot_token,
            application_id=application.id,
            oauth_client_id=application.id,
            oauth_client_secret=application.client_secret,
            control_url=base + CONTROL_PREFIX,
            sku_id=application.sku_id,
            identify_interval=self.hub.settings.identify_interval,
        )
        if self.crowd.rate > 0:
            self.crowd.start()
            self.platforms.start_demo()  # the demo: Streamer members go live now and then
        return self._info

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.crowd.stop()
        await self.platforms.close()
        self.gemini.release()
        for connection in list(self.hub.connections):
            connection.drop()
        await runner.cleanup()
        self._info = None

    async def __aenter__(self) -> SandboxInfo:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


async def run_sandbox(  # noqa: PLR0917 - the CLI's signature, argument for argument
    host: str,
    port: int,
    scenario: str | Path,
    crowd_rate: float,
    seed: int,
    json_output: bool,
) -> None:
    """Serve a sandbox until cancelled, after printing how to reach it.

    With `json_output`, the info is one JSON line (rest_url, gateway_url, bot_token,
    application_id, oauth_client_id, oauth_client_secret, control_url). With `crowd_rate` > 0
    the simulated community acts that many times per second, scripted by `seed`.
    """
    sandbox = Sandbox(scenario=scenario, host=host, port=port, crowd_rate=crowd_rate, seed=seed)
    info = await sandbox.start()
    try:
        if json_output:
            print(json.dumps(info.as_json()), flush=True)
        else:
            for key, value in info.as_json().items():
                print(f"{key:20} {value}", flush=True)
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()
