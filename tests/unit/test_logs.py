from __future__ import annotations

import dataclasses
import io
import json
import logging
from pathlib import Path

import pytest
import structlog

from townsquare.core.logs import SecretRedactor, configure_logging, secret_values
from townsquare.core.settings import load_settings


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_off_a_terminal_with_bound_job_id() -> None:
    stream = _Pipe()
    configure_logging(level="info", fmt="auto", stream=stream)
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(job_id="job-42"):
        log.info("working", step=1)
        logging.getLogger("library").warning("from stdlib")
    log.info("after")
    first, second, third = _lines(stream)
    assert first["event"] == "working" and first["job_id"] == "job-42" and first["step"] == 1
    assert second["event"] == "from stdlib" and second["job_id"] == "job-42"
    assert "job_id" not in third
    assert first["level"] == "info" and "timestamp" in first


def test_secrets_are_masked_in_every_line(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"TOWNSQUARE__HTTP__SERVICE_TOKEN": "tok-very-secret-123"},
        env_file=tmp_path / ".env",
    )
    stream = _Pipe()
    configure_logging(fmt="json", secrets=secret_values(settings), stream=stream)
    structlog.get_logger("x").info(
        "calling with tok-very-secret-123", headers={"a": "tok-very-secret-123"}
    )
    logging.getLogger("aiohttp").error("Authorization: Bearer tok-very-secret-123")
    output = stream.getvalue()
    assert "tok-very-secret-123" not in output
    assert output.count("**********") == 3


def test_redactor_prefers_the_longest_secret() -> None:
    redactor = SecretRedactor(["abcd", "abcdefgh"])
    assert redactor(None, "info", {"event": "x abcdefgh y"}) == {"event": "x ********** y"}


def test_console_format_is_readable() -> None:
    stream = _Pipe()
    configure_logging(fmt="console", stream=stream)
    structlog.get_logger("x").info("hello", who="world")
    assert "hello" in stream.getvalue() and "who=world" in stream.getvalue()


def test_level_filter_and_exceptions_in_json_lines() -> None:
    stream = _Pipe()
    configure_logging(level="warning", fmt="json", stream=stream)
    log = structlog.get_logger("filtered")
    log.info("dropped")
    logging.getLogger("library").info("dropped too")
    try:
        raise ValueError("broken")
    except ValueError:
        log.exception("failed", big=2**70)
    (line,) = _lines(stream)
    assert line["event"] == "failed" and line["level"] == "error"
    assert line["logger"] == "filtered"
    assert "ValueError: broken" in line["exception"]
    assert line["big"] == 2**70  # beyond orjson's 64-bit integers: stdlib json writes it


def test_a_new_configuration_applies_to_loggers_already_used() -> None:
    first, second = _Pipe(), _Pipe()
    configure_logging(level="info", fmt="json", stream=first)
    log = structlog.get_logger("early")  # a module-level logger, cached on first use
    log.info("one")
    configure_logging(level="warning", fmt="json", secrets=["s3cr3t-value"], stream=second)
    log.info("dropped now")
    log.warning("two s3cr3t-value")
    assert [line["event"] for line in _lines(first)] == ["one"]
    assert [line["event"] for line in _lines(second)] == ["two **********"]


class _Unprintable:
    def __repr__(self) -> str:
        raise ZeroDivisionError("no repr")


def test_a_line_that_cannot_be_rendered_never_fails_the_caller(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = _Pipe()
    configure_logging(level="info", fmt="json", stream=stream)
    log = structlog.get_logger("careless")
    log.info("broken", value=_Unprintable())  # would raise in the caller if not caught
    log.info("fine")
    assert [line["event"] for line in _lines(stream)] == ["fine"]
    assert "ZeroDivisionError: no repr" in capsys.readouterr().err


@dataclasses.dataclass
class _Credentials:
    user: str
    password: str = dataclasses.field(repr=False)


def test_dataclasses_are_written_as_their_repr_so_hidden_fields_stay_hidden() -> None:
    stream = _Pipe()
    configure_logging(level="info", fmt="json", stream=stream)
    structlog.get_logger("login").info("login", who=_Credentials("ada", "hunter2"))
    (line,) = _lines(stream)
    assert line["who"] == "_Credentials(user='ada')"
    assert "hunter2" not in stream.getvalue()
