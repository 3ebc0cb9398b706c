"""The `townsquare` command.

Each process of the platform is a subcommand; they share `--settings` and the same start-up:
load and validate settings, configure logging, start or attach to embedded services, then run
until Ctrl-C or SIGTERM. Process packages are imported inside their command so that, say,
`townsquare migrate` never loads hikari or Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import typing
from pathlib import Path
from typing import Annotated

import typer
import yaml

from townsquare.core.embedded import EmbeddedServiceError, embedded_services
from townsquare.core.keyspace import Keyspace
from townsquare.core.logs import configure_logging, secret_values
from townsquare.core.settings import Settings, SettingsError, load_settings, masked_dump

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

__all__ = ["app", "main"]

PIPELINES = ("xp", "automod", "ai", "jobs")

app = typer.Typer(
    name="townsquare",
    help="Townsquare: a self-hostable Discord community bot platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        help="YAML file whose keys override settings.yaml (also TOWNSQUARE_SETTINGS_FILE).",
        dir_okay=False,
    ),
]


def _fail(message: str, code: int = 1) -> typing.NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _settings(path: Path | None) -> Settings:
    try:
        settings = load_settings(path)
    except SettingsError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        _fail(f"invalid configuration:\n{lines}", 2)
    configure_logging(
        level=settings.logging.level,
        fmt=settings.logging.format,
        secrets=secret_values(settings),
    )
    return settings


@contextlib.contextmanager
def _services(settings: Settings) -> Iterator[tuple[str, str]]:
    try:
        with embedded_services(settings) as urls:
            yield urls.redis_url, urls.database_url
    except EmbeddedServiceError as error:
        _fail(f"could not start an embedded service: {error}")


def _run_until_signal(work: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `work(stop)` until it returns; SIGINT/SIGTERM set `stop` for a clean shutdown."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await work(stop)

    asyncio.run(runner())


def _parse_pipelines(raw: str) -> list[str]:
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(PIPELINES))
    if unknown or not chosen:
        raise typer.BadParameter(
            f"unknown pipeline(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(PIPELINES)}"
        )
    return chosen


@config_app.command("check")
def config_check(settings_file: SettingsOption = None) -> None:
    """Validate the configuration and print it with secrets masked."""
    try:
        settings = load_settings(settings_file)
    except SettingsError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        _fail(f"invalid configuration:\n{lines}", 2)
    typer.echo(yaml.safe_dump(masked_dump(settings), sort_keys=False).rstrip())
    typer.echo("# configuration is valid", err=True)


@app.command()
def migrate(
    settings_file: SettingsOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if the models need a new migration.")
    ] = False,
    make: Annotated[
        bool, typer.Option("--make", help="Write the migrations the models need (developers).")
    ] = False,
) -> None:
    """Apply database migrations (safe to run again: applies only what is missing)."""
    from townsquare.core import db

    settings = _settings(settings_file)
    with _services(settings) as (_, database_url):
        if check or make:
            needed = asyncio.run(db.make_migrations(database_url, write=make))
            for name in needed:
                typer.echo(f"{'wrote' if make else 'needed'}: {name}")
            if check and needed:
                raise typer.Exit(1)
            if not needed:
                typer.echo("models and migrations agree")
            return
        applied = asyncio.run(db.migrate(database_url))
    typer.echo("\n".join(f"applied {name}" for name in applied) or "database is up to date")


@app.command()
def worker(
    settings_file: SettingsOption = None,
    pipelines: Annotated[
        str, typer.Option(help="Comma-separated pipelines to consume: xp, automod, ai, jobs.")
    ] = ",".join(PIPELINES),
) -> None:
    """Run task consumers for the chosen pipelines."""
    from townsquare.tasks.worker import run_worker

    chosen = _parse_pipelines(pipelines)
    settings = _settings(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    with _services(settings) as (redis_url, _):
        _run_until_signal(
            lambda stop: run_worker(settings, redis_url, keyspace, chosen, shutdown=stop)
        )


@app.command()
def scheduler(settings_file: SettingsOption = None) -> None:
    """Run the scheduler that fires timed work (one is active; others stand by)."""
    from townsquare.tasks.scheduler import run_scheduler

    settings = _settings(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    with _services(settings) as (redis_url, _):
        _run_until_signal(lambda stop: run_scheduler(settings, redis_url, keyspace, shutdown=stop))


@app.command()
def up(
    settings_file: SettingsOption = None,
    no_console: Annotated[
        bool, typer.Option("--no-console", help="Run headless (the console is not built yet).")
    ] = False,
) -> None:
    """Run everything on this machine as supervised child processes; Ctrl-C stops it all.

    Starts the embedded services, applies migrations, starts the sandbox when no bot token is
    set, then workers for every pipeline and the scheduler. Crashed children restart with
    backoff and raise an operator alert; logs go to `<var_dir>/log/`.
    """
    import os

    import redis.asyncio as aioredis

    from townsquare.core import db
    from townsquare.core.alerts import raise_alert
    from townsquare.core.discord import (
        DiscordTargetError,
        resolve_discord_target,
        sandbox_info_path,
    )
    from townsquare.supervisor import ChildSpec, Supervisor

    settings = _settings(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    var_dir = settings.paths.var_dir.resolve()
    with _services(settings) as (redis_url, database_url):
        applied = asyncio.run(db.migrate(database_url))
        typer.echo(f"database: {len(applied)} migration(s) applied")
        env = {
            **os.environ,
            "TOWNSQUARE__REDIS__URL": redis_url,
            "TOWNSQUARE__DATABASE__URL": database_url,
            "TOWNSQUARE__PATHS__VAR_DIR": str(var_dir),
        }
        if settings_file is not None:
            env["TOWNSQUARE_SETTINGS_FILE"] = str(settings_file.resolve())
        command = (sys.executable, "-m", "townsquare.cli")
        children = [
            ChildSpec("worker", (*command, "worker")),
            ChildSpec("scheduler", (*command, "scheduler")),
        ]
        if settings.uses_sandbox:
            sandbox_info_path(settings).unlink(missing_ok=True)
            children.insert(0, ChildSpec("sandbox", (*command, "sandbox")))

        async def on_crash(name: str, code: int, delay: float) -> None:
            client = aioredis.Redis.from_url(redis_url)
            try:
                await raise_alert(
                    client,
                    keyspace,
                    source=f"up/{name}",
                    message=f"{name} exited with code {code}; restarting in {delay:g} s",
                )
            finally:
                await client.aclose()

        supervisor = Supervisor(
            children, log_dir=var_dir / "log", cwd=Path.cwd(), env=env, on_crash=on_crash
        )

        async def everything(stop: asyncio.Event) -> None:
            running = asyncio.create_task(supervisor.run(stop))
            if settings.uses_sandbox:
                try:
                    target = await asyncio.to_thread(
                        resolve_discord_target, settings, wait_seconds=30
                    )
                except DiscordTargetError as error:
                    stop.set()
                    await running
                    _fail(f"{error}; see {var_dir / 'log' / 'sandbox.log'}")
                typer.echo(f"discord: the sandbox at {target.rest_url}")
            typer.echo(
                f"running {', '.join(child.name for child in children)}; logs in "
                f"{var_dir / 'log'}; Ctrl-C stops everything."
            )
            await running

        _run_until_signal(everything)
    typer.echo("stopped")


def _redact(url: str) -> str:
    from townsquare.core.settings import redact_url

    return redact_url(url)


def _arrives_with(capability: str) -> None:
    _fail(f"this process arrives with the {capability} capability; it is not built yet.", 3)


@app.command()
def shards(settings_file: SettingsOption = None) -> None:
    """Run hikari gateway shards (arrives with the Event pipeline capability)."""
    _arrives_with("Event pipeline and XP")


@app.command()
def http(settings_file: SettingsOption = None) -> None:
    """Serve the dashboard, APIs and webhooks (arrives with the Web API capability)."""
    _arrives_with("Web API and dashboard")


@app.command()
def console(settings_file: SettingsOption = None) -> None:
    """Open the operator console (arrives with the Operator console capability)."""
    _arrives_with("Operator console")


@app.command()
def sandbox(
    settings_file: SettingsOption = None,
    port: Annotated[int | None, typer.Option(help="Port (default: sandbox.port).")] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Scenario name or YAML file (default: sandbox.scenario).")
    ] = None,
    crowd_rate: Annotated[
        float | None, typer.Option(help="Crowd events per second (default: sandbox.crowd_rate).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Crowd seed (default: sandbox.seed).")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the connection details as one JSON line.")
    ] = False,
) -> None:
    """Run the loopback Discord alone and print what a client needs to connect.

    The same details go to `<var_dir>/sandbox.json`, where shards and workers on this machine
    find the sandbox when no bot token is configured.
    """
    import json

    from townsquare.core.discord import sandbox_info_path, write_sandbox_info
    from townsquare.sandbox.server import Sandbox

    settings = _settings(settings_file)
    options = settings.sandbox
    if (crowd_rate if crowd_rate is not None else options.crowd_rate) > 0:
        typer.echo(
            "note: the simulated crowd is not built yet; the sandbox runs without it", err=True
        )

    async def serve(stop: asyncio.Event) -> None:
        sandbox = Sandbox(
            scenario=options.scenario if scenario is None else scenario,
            host=options.host,
            port=options.port if port is None else port,
        )
        info = (await sandbox.start()).as_json()
        info_path = sandbox_info_path(settings)
        try:
            write_sandbox_info(info_path, info)
            if json_output:
                typer.echo(json.dumps(info))
            else:
                for key, value in info.items():
                    typer.echo(f"{key:20} {value}")
            await stop.wait()
        finally:
            info_path.unlink(missing_ok=True)
            await sandbox.stop()

    _run_until_signal(serve)


def main() -> None:
    """Entry point of the `townsquare` script."""
    app(prog_name="townsquare")


if __name__ == "__main__":
    main()
