"""The task registry refuses what a worker could not run, and routes tasks to pipelines."""

from __future__ import annotations

import pytest

from townsquare.tasks.registry import (
    PIPELINES,
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
    assert set(PIPELINES) == {"xp", "automod", "ai", "jobs"}
