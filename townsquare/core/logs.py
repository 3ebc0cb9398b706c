"""structlog set-up shared by every process.

Readable lines on a terminal, JSON lines otherwise (files, pipes, log shippers). Context bound
with `structlog.contextvars.bound_contextvars(request_id=..., job_id=...)` appears on every line
logged inside that work. As a last line of defence, every configured secret value is replaced
by `**********` wherever it would appear in a log line, including in stdlib logging from
libraries.
"""

from __future__ import annotations

import logging
import sys
import typing
from typing import Any

import structlog

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping

    from townsquare.core.settings import Settings

__all__ = ["SecretRedactor", "configure_logging", "secret_values"]

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
    """Configure structlog and route stdlib logging through the same renderer."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
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
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
