"""The `townsquare` command.

Each process of the platform is a subcommand; they share `--settings` and the same start-up:
load and validate settings, configure logging, start or attach to embedded services, then run
until Ctrl-C or SIGTERM. Process packages are imported inside their command so that, say,
`townsquare migrate` never loads hikari or Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
import sys
import typing
from pathlib import Path
from typing import Annotated

import typer
import yaml

from townsquare.cli_support import SettingsOption, fail, services, settings_from
from townsquare.core.features import enabled_features, pipeline_names
from townsquare.core.keyspace import Keyspace
from townsquare.core.logs import configure_logging, secret_values
from townsquare.core.redis_client import connect_redis, describe_redis, is_cluster_url
from townsquare.core.settings import (
    Settings,
    SettingsError,
    load_settings,
    masked_dump,
)

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["app", "main"]

app = typer.Typer(
    name="townsquare",
    help="Townsquare: a self-hostable Discord community bot platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _run_until_signal(work: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `work(stop)` until it returns; SIGINT/SIGTERM set `stop` for a clean shutdown."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await work(stop)

    asyncio.run(runner())


MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65_535,
        help="Port of this process's /metrics, /healthz, /readyz (default: from the settings; "
        "0: none).",
    ),
]


def _parse_pipelines(raw: str | None) -> list[str]:
    """The pipelines `--pipelines` names (all of them when not given), or a usage error."""
    known = pipeline_names()
    if raw is None:
        return list(known)
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(known))
    if unknown or not chosen:
        raise typer.BadParameter(
            f"unknown pipeline(s) {', '.join(unknown) or '(none given)'}; "
            f"the enabled features' pipelines are {', '.join(known)}"
        )
    return chosen


@config_app.command("check")
def config_check(settings_file: SettingsOption = None) -> None:
    """Validate the configuration and print it with secrets masked."""
    try:
        settings = load_settings(settings_file)
    except SettingsError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        fail(f"invalid configuration:\n{lines}", 2)
    typer.echo(yaml.safe_dump(masked_dump(settings), sort_keys=False).rstrip())
    typer.echo(f"# redis: {describe_redis(settings.redis.url)}", err=True)
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
    """Apply database migrations and rename Redis keys written before hash tags (safe to run
    again: does only what is missing)."""
    from townsquare.core import db

    settings = settings_from(settings_file)
    with services(settings) as (redis_url, database_url):
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
        typer.echo(asyncio.run(_tag_old_keys(redis_url, Keyspace(settings.redis.namespace))))


async def _tag_old_keys(redis_url: str, keyspace: Keyspace) -> str:
    """Rename keys written before hash tags (core/key_migration.py); what was done, in words."""
    from townsquare.core.key_migration import tag_old_keys

    if is_cluster_url(redis_url):
        return "redis: a cluster holds only tagged keys; nothing to rename"
    redis = connect_redis(redis_url)
    try:
        done = await tag_old_keys(redis, keyspace)
    finally:
        await redis.aclose()
    if done.conflicts:
        shown = ", ".join(done.conflicts[:5])
        fail(
            f"redis: {len(done.conflicts)} old key(s) not renamed, their new names exist "
            f"already (was the new version started before `townsquare migrate`?): {shown}"
        )
    return (
        f"redis: {done.renamed} key(s) renamed to their tagged names, {done.split} index(es) split"
    )


@app.command()
def worker(
    settings_file: SettingsOption = None,
    pipelines: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated pipelines to consume, of the enabled features' "
            f"({', '.join(pipeline_names())}); default: all of them.",
            show_default=False,
        ),
    ] = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Run task consumers for the chosen pipelines."""
    from townsquare.core import db
    from townsquare.tasks.worker import run_worker

    chosen = _parse_pipelines(pipelines)
    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    with services(settings) as (redis_url, database_url):

        async def work(stop: asyncio.Event) -> None:
            # Tasks read guild configuration and reward rows, and the flush writes XP rows.
            async with db.connect(database_url, pool_max=settings.database.pool_max):
                await run_worker(
                    settings, redis_url, keyspace, chosen, shutdown=stop, metrics_port=metrics_port
                )

        _run_until_signal(work)


@app.command()
def scheduler(settings_file: SettingsOption = None, metrics_port: MetricsPortOption = None) -> None:
    """Run the scheduler that fires timed work (one is active; others stand by)."""
    from townsquare.tasks.scheduler_process import run_scheduler_process

    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    with services(settings) as (redis_url, database_url):

        async def schedule(stop: asyncio.Event) -> None:
            await run_scheduler_process(
                settings, redis_url, database_url, keyspace, stop=stop, metrics_port=metrics_port
            )

        _run_until_signal(schedule)


@app.command()
def up(
    settings_file: SettingsOption = None,
    no_console: Annotated[
        bool,
        typer.Option(
            "--no-console",
            help="Run headless; also the case when stdin or stdout is not a terminal.",
        ),
    ] = False,
    single_process: Annotated[
        bool,
        typer.Option(
            "--single-process",
            help="Run shards, workers, scheduler and HTTP (and the sandbox) in this one process "
            "on one event loop: the small-footprint mode for small servers.",
        ),
    ] = False,
) -> None:
    """Run everything on this machine as supervised child processes; Ctrl-C stops it all.

    Starts the embedded services, applies migrations, starts the sandbox when no bot token is
    set, then the shards, workers for every pipeline, the scheduler and the HTTP service.
    Crashed children restart with backoff and raise an operator alert; logs in `<var_dir>/log/`.
    """
    from townsquare.core import db
    from townsquare.core.discord import (
        DiscordTargetError,
        resolve_discord_target,
        sandbox_info_path,
    )
    from townsquare.supervisor import (
        Supervisor,
        child_environment,
        crash_alerts,
        platform_children,
    )

    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    var_dir = settings.paths.var_dir.resolve()
    with_console = not no_console and sys.stdin.isatty() and sys.stdout.isatty()
    if with_console or single_process:
        # The console owns the terminal; in one process, the parts' logs go where the
        # children's would (their own files), not to a pipe nobody may be reading.
        _log_to_file(
            settings, var_dir / "log" / ("single-process.log" if single_process else "up.log")
        )
    with services(settings, small=single_process) as (redis_url, database_url):
        applied = asyncio.run(db.migrate(database_url))
        typer.echo(f"database: {len(applied)} migration(s) applied")
        typer.echo(asyncio.run(_tag_old_keys(redis_url, keyspace)))
        if settings.uses_sandbox:
            sandbox_info_path(settings).unlink(missing_ok=True)
        children = platform_children(with_sandbox=settings.uses_sandbox)
        supervisor = Supervisor(
            children,
            log_dir=var_dir / "log",
            cwd=Path.cwd(),
            env=child_environment(
                redis_url=redis_url,
                database_url=database_url,
                var_dir=var_dir,
                settings_file=settings_file,
            ),
            on_crash=crash_alerts(redis_url, keyspace),
        )

        async def platform(stop: asyncio.Event) -> None:
            if not single_process:
                await supervisor.run(stop)
                return
            from townsquare.single_process import run_single_process

            sandbox = _sandbox_serving(settings) if settings.uses_sandbox else None
            async with sandbox or contextlib.nullcontext():
                await run_single_process(
                    settings,
                    redis_url,
                    database_url,
                    keyspace,
                    stop=stop,
                    on_crash=crash_alerts(redis_url, keyspace),
                )

        async def everything(stop: asyncio.Event) -> None:
            running = asyncio.create_task(platform(stop))
            if settings.uses_sandbox:
                try:
                    target = await asyncio.to_thread(
                        resolve_discord_target, settings, wait_seconds=30
                    )
                except DiscordTargetError as error:
                    stop.set()
                    await running
                    fail(f"{error}; see {var_dir / 'log' / 'sandbox.log'}")
                typer.echo(f"discord: the sandbox at {target.rest_url}")
                from townsquare.core.demos import run_demos

                for line in await run_demos(settings, target, redis_url, database_url):
                    typer.echo(line)
            typer.echo(
                f"dashboard: {settings.http.public_url} (log in with Discord"
                f"{', as a sandbox user' if settings.uses_sandbox else ''})"
            )
            typer.echo(f"metrics: {_metrics_url(settings)} (Prometheus, not on the public port)")
            for line in _process_ports(settings):
                typer.echo(line)
            typer.echo(
                f"running {', '.join(child.name for child in children)}"
                f"{' in this one process' if single_process else ''}; logs in "
                f"{var_dir / 'log'}; Ctrl-C stops everything."
            )
            if with_console:
                from townsquare.console import run_console

                # Quitting the console (q) stops the platform, as Ctrl-C does headless.
                await run_console(settings, redis_url, database_url, keyspace)
                stop.set()
            await running

        _run_until_signal(everything)
    typer.echo("stopped")


@contextlib.asynccontextmanager
async def _sandbox_serving(settings: Settings) -> AsyncIterator[None]:
    """The sandbox on this process's loop (`up --single-process`), published in var/ as
    `townsquare sandbox` publishes it."""
    from townsquare.core.discord import sandbox_info_path, write_sandbox_info
    from townsquare.sandbox.server import Sandbox

    options = settings.sandbox
    sandbox = Sandbox(
        scenario=options.scenario,
        host=options.host,
        port=options.port,
        crowd_rate=options.crowd_rate,
        seed=options.seed,
    )
    info_path = sandbox_info_path(settings)
    write_sandbox_info(info_path, (await sandbox.start()).as_json())
    try:
        yield
    finally:
        info_path.unlink(missing_ok=True)
        await sandbox.stop()


def _metrics_url(settings: Settings) -> str:
    """Where the HTTP service serves its Prometheus metrics (`http.metrics_*`), or "off"."""
    http = settings.http
    if not http.metrics_port:
        return "off (http.metrics_port is 0)"
    return f"http://{http.metrics_host}:{http.metrics_port}/metrics"


def _process_ports(settings: Settings) -> list[str]:
    """Each process kind's listener (`/metrics`, `/healthz`, `/readyz`), one line each."""
    ports = {
        "http": (settings.http.metrics_host, settings.http.metrics_port),
        "shards": (settings.metrics.host, settings.metrics.shards_port),
        "worker": (settings.metrics.host, settings.metrics.worker_port),
        "scheduler": (settings.metrics.host, settings.metrics.scheduler_port),
    }
    return [
        f"  {name:10} " + (f"http://{host}:{port}/metrics" if port else "off (port 0)")
        for name, (host, port) in ports.items()
    ]


def _log_to_file(settings: Settings, path: Path) -> None:
    """Send this process's log lines to `path`: the console owns the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(
        level=settings.logging.level,
        fmt="json",
        secrets=secret_values(settings),
        stream=path.open("a", encoding="utf-8"),
    )


@app.command()
def shards(
    settings_file: SettingsOption = None,
    cluster: Annotated[
        int | None, typer.Option(help="This process's cluster index (0-based).")
    ] = None,
    clusters: Annotated[
        int | None, typer.Option(help="How many clusters share the shards.")
    ] = None,
    shard_ids: Annotated[
        str | None, typer.Option(help="Explicit shard ids, e.g. 0,1 or 0-3.")
    ] = None,
    shard_count: Annotated[
        int | None, typer.Option(help="Total shards (default: shards.shard_count, else Discord's).")
    ] = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Run hikari gateway shards that publish normalised events to the pipelines."""
    from townsquare.core.discord import DiscordTargetError, resolve_discord_target
    from townsquare.shards import (
        ShardLeaseLostError,
        ShardSelectionError,
        parse_shard_selection,
        resolve_shard_selection,
        run_shards,
    )

    try:
        selection = parse_shard_selection(
            cluster=cluster, clusters=clusters, shard_ids=shard_ids, shard_count=shard_count
        )
    except ShardSelectionError as error:
        raise typer.BadParameter(str(error)) from None
    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    try:
        target = resolve_discord_target(settings, wait_seconds=30)
    except DiscordTargetError as error:
        fail(str(error))
    with services(settings) as (redis_url, _):

        async def serve(stop: asyncio.Event) -> None:
            try:
                ids, count = await resolve_shard_selection(selection, settings, target)
            except ShardSelectionError as error:
                fail(f"invalid shard selection: {error}", 2)
            # No database: commands reach PostgreSQL through the internal API (flow 2).
            try:
                await run_shards(
                    settings,
                    redis_url,
                    keyspace,
                    target,
                    ids,
                    count,
                    shutdown=stop,
                    cluster=cluster,
                    metrics_port=metrics_port,
                )
            except ShardLeaseLostError as error:
                # Another process resumed one of these sessions: stop, the supervisor restarts.
                fail(f"shards stopped: {error}")

        _run_until_signal(serve)


@app.command()
def http(settings_file: SettingsOption = None) -> None:
    """Serve the dashboard, the API and webhooks with hypercorn."""
    from townsquare.http import run_http

    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    with services(settings) as (redis_url, database_url):
        typer.echo(f"dashboard: {settings.http.public_url}")
        typer.echo(f"metrics: {_metrics_url(settings)}")
        _run_until_signal(
            lambda stop: run_http(settings, redis_url, database_url, keyspace, shutdown=stop)
        )


@app.command()
def status(settings_file: SettingsOption = None) -> None:
    """Print a one-screen summary (shards, queues, dead letters, open alerts).

    Exit 0 when all is well, 1 when something needs attention (listed), 2 when Redis cannot
    be reached: for scripts and monitoring.
    """
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError

    from townsquare.core.status import read_status

    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    # Redis alone: an embedded PostgreSQL is neither started nor attached for a status.
    redis_only = settings.model_copy(
        update={"database": settings.database.model_copy(update={"url": "unused"})}
    )
    with services(redis_only) as (redis_url, _):

        async def read() -> str | int:
            redis = connect_redis(
                redis_url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
            )
            try:
                report = await read_status(redis, keyspace, pipeline_names())
            except (RedisError, OSError) as error:
                return f"Redis cannot be reached: {error}"
            finally:
                await redis.aclose()
            typer.echo(report.render())
            return report.exit_code

        outcome = asyncio.run(read())
    if isinstance(outcome, str):
        fail(outcome, 2)
    raise typer.Exit(outcome)


@app.command()
def console(settings_file: SettingsOption = None) -> None:
    """Open the operator console: shards, queues, dead letters, premium, alerts."""
    from townsquare.console import run_console

    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    with services(settings) as (redis_url, database_url):
        asyncio.run(run_console(settings, redis_url, database_url, keyspace))


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

    settings = settings_from(settings_file)
    options = settings.sandbox

    async def serve(stop: asyncio.Event) -> None:
        sandbox = Sandbox(
            scenario=options.scenario if scenario is None else scenario,
            host=options.host,
            port=options.port if port is None else port,
            crowd_rate=options.crowd_rate if crowd_rate is None else crowd_rate,
            seed=options.seed if seed is None else seed,
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


def _add_setup_commands() -> None:
    """`townsquare init` (first run) and `townsquare doctor` (townsquare/setup/)."""
    from townsquare.setup import cli as setup_cli

    app.command("init")(setup_cli.init)
    app.command("doctor")(setup_cli.doctor)
    from townsquare.setup import backups

    app.command("backup")(backups.backup)
    app.command("restore")(backups.restore)


_add_setup_commands()


def _add_feature_commands() -> None:
    """Each enabled feature's command group (`FEATURE.cli`: a module with `APP`), by its name."""
    for feature in enabled_features():
        if feature.cli is not None:
            app.add_typer(importlib.import_module(feature.cli).APP, name=feature.name)


_add_feature_commands()


def main() -> None:
    """Entry point of the `townsquare` script."""
    app(prog_name="townsquare")


if __name__ == "__main__":
    main()
