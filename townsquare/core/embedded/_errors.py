"""The one error type of the embedded servers, and the fixes recognised in their output."""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from pathlib import Path

__all__ = ["EmbeddedServiceError", "explain_failure"]

# Phrases the servers and the OS print for conditions an operator can fix, and the fix.
_HINTS: tuple[tuple[str, str], ...] = (
    ("No space left on device", "the disk holding {dir} is full; free some space"),
    ("could not extend file", "the disk holding {dir} is full; free some space"),
    ("Disk quota exceeded", "the disk quota for {dir} is used up; free some space"),
    ("Read-only file system", "{dir} is on a read-only file system; point it elsewhere"),
    ("Permission denied", "permission denied; let the server's user reach {dir} and its parents"),
    ("wrong ownership", "{dir} belongs to another user; give it back to the server's user"),
    ("could not create shared memory", "the system refused shared memory; check /dev/shm"),
    ("Cannot allocate memory", "the machine is out of memory"),
    ("AOF MANIFEST FILE ERROR", "Valkey's append-only file in {dir} is damaged; move it away"),
    ("reading the append only file", "Valkey's append-only file in {dir} is damaged; move it away"),
)


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started or attached to.

    The message says what failed and what to do about it, so the CLI prints it alone, without
    a traceback.
    """


def explain_failure(text: str, directory: Path) -> str:
    """A short fix for a condition recognised in a server's output, or ""."""
    for phrase, hint in _HINTS:
        if phrase.lower() in text.lower():
            return hint.format(dir=directory)
    return ""
