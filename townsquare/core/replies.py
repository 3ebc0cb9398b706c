"""Redis replies as text: redis-py returns bytes unless a client decodes responses."""

from __future__ import annotations

__all__ = ["as_text"]


def as_text(value: bytes | str | int | None, *, errors: str = "strict") -> str:
    """`value` as text: bytes decoded as UTF-8 (`errors` as in `bytes.decode`), None as ""."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(errors=errors)
    return str(value)
