"""The task registry refuses what a worker could not run, and routes tasks to pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.docs import table_rows
from townsquare.core.features import pipeline_names
from townsquare.tasks.registry import (
    TaskRegistry,
    TaskSpec,
    load_tasks,
    validate_pipelines,
)


async def _noop() -> None:
    return None


def test_registered_task_is_routed_to_its_pipeline() -> None:
    registry = TaskRegistry()
    registry.task("xp", "xp.award")(_noop)
    assert registry.pipeline_of("xp.award") == "xp"
    assert [spec.name for spec in registry.for_pipeline("xp")] == ["xp.award"]
    assert registry.for_pipeline("jobs") == []
    assert registry.pipeline_of("xp.unknown") is None


@pytest.mark.parametrize("name", ["Award", "award", "xp.Award", "xp..award", "xp.award!"])
def test_bad_task_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="dotted lowercase"):
        TaskRegistry().task("xp", name)(_noop)


def test_sync_functions_are_refused() -> None:
    def sync() -> None:
        return None

    with pytest.raises(TypeError, match="async function"):
        TaskRegistry().add(TaskSpec("jobs.sync", "jobs", sync))  # type: ignore[arg-type]


def test_unknown_pipeline_and_duplicate_names_are_refused() -> None:
    registry = TaskRegistry()
    with pytest.raises(ValueError, match="unknown pipeline 'mail'"):
        registry.add(TaskSpec("mail.send", "mail", _noop))  # type: ignore[arg-type]
    registry.task("jobs", "jobs.one")(_noop)

    async def other() -> None:
        return None

    with pytest.raises(ValueError, match="already registered"):
        registry.task("jobs", "jobs.one")(other)


def test_pipeline_choice_is_validated() -> None:
    assert validate_pipelines(["automod", "xp", "xp"]) == ("automod", "xp")
    with pytest.raises(ValueError, match="unknown pipeline 'mail'"):
        validate_pipelines(["xp", "mail"])
    with pytest.raises(ValueError, match="at least one"):
        validate_pipelines([])


def test_platform_registry_has_the_ping_job() -> None:
    registry = load_tasks()
    assert registry.pipeline_of("townsquare.ping") == "jobs"
    assert pipeline_names() == ("xp", "automod", "ai", "jobs")


def test_the_docs_list_the_pipelines_the_features_declare() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "tasks.md").read_text(encoding="utf-8")
    # The pipelines table: its rows name each pipeline's stream key.
    rows = [
        line for line in text.splitlines() if line.startswith("| `") and "`<ns>:stream:" in line
    ]
    streams = {name: cells[2] for name, cells in (table_rows(row).popitem() for row in rows)}
    assert tuple(streams) == pipeline_names()
    assert all(stream == f"`<ns>:stream:{{{name}}}`" for name, stream in streams.items())
