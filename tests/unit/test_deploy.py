"""The many-machine deployment files (deploy/, docs/deployment.md) against the CLI and the
settings: the compose file is valid by the Compose Specification's own schema, every compose
service's command and every systemd unit's ExecStart is a real `townsquare` subcommand whose
options parse (by the CLI's own parser, without running it), the shard processes cover every
cluster once, and each service's environment is valid settings."""

from __future__ import annotations

import json
import re
import shlex
import typing
from pathlib import Path

import jsonschema
import pytest
import typer
import typer.main
import yaml

from townsquare.cli import app
from townsquare.core.settings import load_settings
from townsquare.shards import parse_shard_selection

if typing.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE_SCHEMA = (
    Path(__file__).resolve().parents[1]
    / "support"
    / "vendor"
    / "compose-spec"
    / "compose-spec.json"
)
ENV_EXAMPLE = DEPLOY / "townsquare.env.example"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
UsageError: typing.Final = typer.BadParameter.__base__
"""click's `UsageError` (typer vendors click and exports only `BadParameter` of its errors):
what the parser raises for an unknown command or option and, as `BadParameter`, a bad value."""
INSTANCE = {"townsquare-shards@.service": "1", "townsquare-worker@.service": "9466"}
"""The `%i` each template unit is checked with."""


def parse_command(args: Sequence[str]) -> tuple[str, dict[str, typing.Any]]:
    """`townsquare ARGS` parsed as the CLI would, down to the subcommand's parameters; raises
    click's usage error for an unknown subcommand or option, or a bad value."""
    group: typing.Any = typer.main.get_command(app)
    with group.make_context("townsquare", list(args)) as context:
        name, *rest = args
        command = group.get_command(context, name)
        if command is None:
            raise UsageError(f"no such command {name!r}")
        with command.make_context(name, rest, parent=context) as sub:
            if hasattr(command, "get_command"):  # a feature's group: its subcommand too
                inner = command.get_command(sub, rest[0])
                assert inner is not None, f"no such command {' '.join(args[:2])!r}"
                with inner.make_context(rest[0], rest[1:], parent=sub) as leaf:
                    return f"{name} {rest[0]}", dict(leaf.params)
            return name, dict(sub.params)


def test_the_parser_refuses_what_the_cli_refuses() -> None:
    assert parse_command(["shards", "--cluster", "0", "--clusters", "2"])[1]["clusters"] == 2
    with pytest.raises(UsageError, match="no such command"):
        parse_command(["shard", "--cluster", "0"])
    with pytest.raises(UsageError, match="--clusterz"):
        parse_command(["shards", "--clusterz", "0"])
    with pytest.raises(typer.BadParameter):
        parse_command(["worker", "--metrics-port", "ninety"])


def compose_file() -> dict[str, typing.Any]:
    return typing.cast(
        "dict[str, typing.Any]", yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    )


def compose_services() -> dict[str, dict[str, typing.Any]]:
    return typing.cast("dict[str, dict[str, typing.Any]]", compose_file()["services"])


def compose_errors(compose: Mapping[str, typing.Any]) -> list[str]:
    """What the Compose Specification's schema refuses in `compose` (vendored, see its README)."""
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(compose)
    ]


def test_the_compose_file_is_valid_by_the_compose_specification() -> None:
    assert compose_errors(compose_file()) == []
    # The schema does refuse what compose refuses: a misspelt key, a wrong type.
    broken = compose_file()
    broken["services"]["http"]["restart_policy"] = "always"
    broken["services"]["postgres"]["ports"] = "5432:5432"
    errors = compose_errors(broken)
    assert any("restart_policy" in error for error in errors), errors
    assert any(error.startswith("services/postgres/ports") for error in errors), errors


def townsquare_services() -> dict[str, dict[str, typing.Any]]:
    return {
        name: service
        for name, service in compose_services().items()
        if service.get("image", "").startswith("townsquare")
    }


def env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines (comments and blank lines skipped), as compose and systemd read them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {key.strip(): value for key, value in pairs}


def check_settings(environ: Mapping[str, str], tmp_path: Path) -> None:
    """The settings load (validated in full) from `environ` alone."""
    load_settings(environ=dict(environ) | {"HOME": str(tmp_path)}, env_file=None)


def test_the_compose_file_runs_every_part_with_real_commands(tmp_path: Path) -> None:
    services = compose_services()
    assert {"postgres", "valkey", "proxy"} <= set(services)
    ours = townsquare_services()
    commands = {name: parse_command(service["command"]) for name, service in ours.items()}
    assert {command for command, _ in commands.values()} == {
        "migrate",
        "http",
        "shards",
        "worker",
        "scheduler",
    }
    # The shard processes cover every cluster once, all of the same count.
    selections = [
        parse_shard_selection(
            cluster=params["cluster"],
            clusters=params["clusters"],
            shard_ids=params["shard_ids"],
            shard_count=params["shard_count"],
        )
        for command, params in commands.values()
        if command == "shards"
    ]
    assert len({s.clusters for s in selections}) == 1
    assert sorted(s.cluster for s in selections) == list(range(selections[0].clusters))
    shared = env_file(ENV_EXAMPLE)
    assert int(shared["TOWNSQUARE__SHARDS__SHARD_COUNT"]) >= len(selections)
    for name, service in ours.items():
        assert service["env_file"] == ["townsquare.env"], name
        check_settings(shared | service.get("environment", {}), tmp_path)
    # Only the proxy publishes ports; it passes to the HTTP service's port.
    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy http:8080" in caddyfile
    assert ours["http"]["environment"]["TOWNSQUARE__HTTP__HOST"] == "0.0.0.0"


def unit_settings(text: str) -> tuple[list[str], dict[str, str], list[str]]:
    """ExecStart lines, Environment= assignments and EnvironmentFile= paths of a unit."""
    starts: list[str] = []
    environment: dict[str, str] = {}
    files: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "ExecStart":
            starts.append(value)
        elif key == "Environment":
            name, _, assigned = value.partition("=")
            environment[name] = assigned
        elif key == "EnvironmentFile":
            files.append(value)
    return starts, environment, files


@pytest.mark.parametrize("unit", UNITS, ids=[unit.name for unit in UNITS])
def test_every_systemd_unit_starts_a_real_command(unit: Path, tmp_path: Path) -> None:
    starts, environment, files = unit_settings(unit.read_text(encoding="utf-8"))
    assert files == ["/etc/townsquare/townsquare.env"]
    assert len(starts) == 1
    line = starts[0].replace("%i", INSTANCE.get(unit.name, "%i"))
    assert "%" not in line, f"{unit.name}: unit specifier left in {line!r}"
    # systemd substitutes ${NAME} from Environment= and EnvironmentFile=.
    shared = env_file(ENV_EXAMPLE)
    line = re.sub(r"\$\{(\w+)\}", lambda m: (environment | shared)[m.group(1)], line)
    binary, *args = shlex.split(line)
    assert binary == "/opt/townsquare/venv/bin/townsquare"
    command, params = parse_command(args)
    assert command == unit.name.removeprefix("townsquare-").split("@")[0].split(".")[0]
    if command == "shards":
        parse_shard_selection(cluster=params["cluster"], clusters=params["clusters"])
    check_settings(shared | environment, tmp_path)


def test_the_units_cover_every_process() -> None:
    names = {unit.name for unit in UNITS}
    assert names == {
        "townsquare-migrate.service",
        "townsquare-http.service",
        "townsquare-shards@.service",
        "townsquare-worker@.service",
        "townsquare-scheduler.service",
    }
