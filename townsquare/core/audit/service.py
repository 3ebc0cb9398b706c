"""Writing audit entries. Callers pass their transaction's connection so the entry commits
or rolls back with the change it describes."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from townsquare.core.audit.models import ActorKind, AuditEntry

if typing.TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

__all__ = ["Actor", "record"]


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change."""

    kind: ActorKind
    id: int | None = None
    name: str = ""

    @classmethod
    def system(cls, name: str = "townsquare") -> Actor:
        return cls(ActorKind.SYSTEM, None, name)


async def record(
    action: str,
    actor: Actor,
    *,
    guild_id: int | None = None,
    target: str = "",
    before: Any = None,
    after: Any = None,
    using_db: BaseDBAsyncClient | None = None,
) -> AuditEntry:
    """Append one audit entry."""
    return await AuditEntry.create(
        guild_id=guild_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name[:100],
        action=action,
        target=target[:200],
        before=before,
        after=after,
        using_db=using_db,
    )
