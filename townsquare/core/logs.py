"""structlog set-up shared by every process.

Readable lines on a terminal, JSON lines otherwise (files, pipes, log shippers). Context bound
with `structlog.contextvars.bound_contextvars(request_id=..., job_id=...)` appears on every line
logged inside that work. As a last line of defence, every configured secret value is replaced
by `**********` wherever it would appear in a log line, including in stdlib logging from
libraries.

Our own lines (structlog) are rendered by structlog and written straight to the stream; only
libraries' stdlib lines go through a `logging` handler (with the same processors). Sending our
lines through stdlib as well cost a `LogRecord`, a caller lookup and a copy of the record per
line: about 45 of 65 µs per line, and the HTTP service writes one line per request.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
import typing
from typing import Any

import orjson
import structlog

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping

    from townsquare.core.settings import Settings

__all__ = ["LineLogger", "SecretRedactor", "configure_logging", "secret_values"]

MASK = "**********"


class SecretRedactor:
    """A structlog processor that masks known secret values anywhere in an event."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if self._secrets:
            for key, value in event_dict.items():
                event_dict[key] = self._mask(value)
        return event_dict

    def _mask(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {key: self._mask(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._mask(item) for item in value)
        return value


class _Output:
    """How our own lines are processed and where they go: read at every line.

    structlog's loggers keep the processors and the logger they were built with once used
    (`cache_logger_on_first_use`), and module-level loggers are used before a process's last
    :func:`configure_logging` (the console moves its lines to a file after the settings are
    read). So every logger gets this one object as its only processor and writes through it,
    and a new configuration applies to all of them at once, as stdlib's root handler did.
    """

    def __init__(self) -> None:
        self.level = logging.INFO
        self.processors: list[Any] = []
        self.handler: logging.StreamHandler[Any] | None = None

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        if _LEVELS.get(method_name, logging.INFO) < self.level:
            raise structlog.DropEvent
        try:
            for processor in self.processors:
                event_dict = processor(logger, method_name, event_dict)
        except Exception:
            # As logging.Handler.handleError: a line that cannot be rendered (a value whose
            # repr raises, say) is reported on stderr and dropped; it never fails the caller.
            if logging.raiseExceptions:
                print("--- Logging error ---", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
            raise structlog.DropEvent from None
        return event_dict

    def write(self, line: str) -> None:
        handler = self.handler
        if handler is None:
            return
        # The handler's lock: a line never interleaves with a library's stdlib line.
        handler.acquire()
        try:
            handler.stream.write(line + "\n")
            handler.stream.flush()
        except Exception:
            # As logging.Handler.handleError: a failed log line must not fail the caller.
            if logging.raiseExceptions:
                traceback.print_exc(file=sys.stderr)
        finally:
            handler.release()


_LEVELS: typing.Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "err": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
_OUTPUT: typing.Final = _Output()


class LineLogger:
    """structlog's final logger: hands the rendered line to the current output.

    It has a `name` for `add_logger_name` (the name given to `structlog.get_logger`).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        _OUTPUT.write(message)

    log = debug = info = warning = warn = error = err = critical = fatal = exception = msg


def _line_logger(*args: Any) -> LineLogger:
    return LineLogger(str(args[0]) if args else "")


def _json_line(event_dict: Any, **_kw: Any) -> str:
    """orjson for speed; stdlib json for what orjson refuses (integers beyond 64 bits).

    Dataclasses go through `repr` as with stdlib json, so a field declared `repr=False` (a
    secret, say) is not written out field by field.
    """
    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
    try:
        return orjson.dumps(event_dict, default=repr, option=options).decode()
    except orjson.JSONEncodeError:
        return json.dumps(event_dict, default=repr)


def secret_values(settings: Settings) -> list[str]:
    """Every secret configured in `settings`, as plain text (for the redactor only)."""
    from townsquare.core.settings import SECRET_PATHS

    values = []
    for path in SECRET_PATHS:
        node: Any = settings
        for part in path:
            node = getattr(node, part)
        if node is not None:
            values.append(node.get_secret_value())
    return values


def configure_logging(
    *, level: str = "info", fmt: str = "auto", secrets: Iterable[str] = (), stream: Any = None
) -> None:
    """Configure structlog and stdlib logging (libraries) to write to `stream` alike.

    Our lines (structlog) are rendered by structlog and written straight to the stream;
    libraries' stdlib lines go through a `logging` handler on the same stream with the same
    processors. A later call replaces the configuration for every logger, cached ones too.
    """
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info
        if as_json
        else structlog.processors.StackInfoRenderer(),
        SecretRedactor(secrets),
    ]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _OUTPUT.level = logging.getLevelNamesMapping()[level.upper()]
    _OUTPUT.processors = [*shared, renderer]
    _OUTPUT.handler = handler
    structlog.configure(
        processors=[_OUTPUT],
        logger_factory=_line_logger,
        # Every level passes here; _OUTPUT filters, so a new level applies to cached loggers.
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
        cache_logger_on_first_use=True,
    )
