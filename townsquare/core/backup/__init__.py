"""Backups that restore: one archive of PostgreSQL and the Redis state that matters.

`townsquare backup FILE` and `townsquare restore FILE` (townsquare/setup/backups.py) and the
scheduler's scheduled backups (townsquare/tasks/backups.py) use these; docs/backups.md says
what an archive holds and what a restore refuses.
"""

from __future__ import annotations

from townsquare.core.backup.archive import (
    BackupSummary,
    RestoreSummary,
    read_manifest,
    restore_backup,
    write_backup,
)
from townsquare.core.backup.postgres import BackupError
from townsquare.core.backup.retention import (
    archives,
    due,
    prune,
    remove_leftovers,
    scheduled_name,
)

__all__ = [
    "BackupError",
    "BackupSummary",
    "RestoreSummary",
    "archives",
    "due",
    "prune",
    "read_manifest",
    "remove_leftovers",
    "restore_backup",
    "scheduled_name",
    "write_backup",
]
