"""Scheduled backups' files: their names, when the next one is due, and retention.

Scheduled archives are `townsquare-<UTC time>.tar` in `backups.directory`; the newest
`backups.keep` stay and older ones are deleted after each new one is complete. Files of other
names (a backup taken by hand) are never touched; what a killed backup left (a `.partial`, a
scratch folder) is removed once old enough that no backup can still be writing it. When the next
backup is due is read from the newest archive's name, so a restarted scheduler neither backs
up again at once nor forgets that one is overdue.
"""

from __future__ import annotations

import datetime
import re
import shutil
import time
import typing

if typing.TYPE_CHECKING:
    from pathlib import Path

__all__ = ["archives", "due", "prune", "remove_leftovers", "scheduled_name"]

_NAME = re.compile(r"^townsquare-(\d{8}T\d{6}Z)\.tar$")
_STAMP = "%Y%m%dT%H%M%SZ"


def scheduled_name(now: datetime.datetime) -> str:
    """The file name of a scheduled archive written at `now`."""
    return f"townsquare-{now.astimezone(datetime.UTC).strftime(_STAMP)}.tar"


def archives(directory: Path) -> list[tuple[datetime.datetime, Path]]:
    """The scheduled archives in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            when = datetime.datetime.strptime(match.group(1), _STAMP).replace(tzinfo=datetime.UTC)
            found.append((when, path))
    return sorted(found)


def due(directory: Path, interval_seconds: float, now: datetime.datetime) -> float:
    """Seconds until the next scheduled backup is due (0 or less: now)."""
    existing = archives(directory)
    if not existing:
        return 0.0
    return (existing[-1][0] - now).total_seconds() + interval_seconds


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete the scheduled archives older than the newest `keep`; the paths deleted."""
    existing = archives(directory)
    doomed = [path for _, path in existing[: max(0, len(existing) - keep)]]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def remove_leftovers(directory: Path, older_than_seconds: float) -> list[Path]:
    """Delete what killed backups left in `directory` (a scheduled `.partial`, a scratch
    `.townsquare-backup-*` folder) once older than `older_than_seconds`; the paths deleted."""
    if not directory.is_dir():
        return []
    cutoff = time.time() - older_than_seconds
    removed = []
    for path in directory.iterdir():
        partial = path.name.endswith(".tar.partial") and _NAME.match(path.name[: -len(".partial")])
        scratch = path.name.startswith(".townsquare-backup-") and path.is_dir()
        if (partial or scratch) and path.stat().st_mtime < cutoff:
            if scratch:
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed
