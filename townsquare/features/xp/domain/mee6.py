"""Importing a MEE6 leaderboard: `townsquare xp import-mee6 FILE --guild ID`.

The file is MEE6's leaderboard JSON (what its leaderboard API returns, pages concatenated):

    {"players": [{"id": "123456789012345678", "xp": 5230, "message_count": 412, ...}, ...]}

`id` (a snowflake, as a string or a number) and `xp` (>= 0) are required per player,
`message_count` (>= 0) is optional; other keys (`username`, `level`, `detailed_xp`, ...) are
ignored, and levels are recomputed from the guild's curve. Totals are *set*, not added, so
importing the same file twice changes nothing. A player listed twice is an error.
"""

from __future__ import annotations

import json
import typing
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from townsquare.features.xp.domain.admin import adjust_totals, audit_xp_change

if typing.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.audit.service import Actor
    from townsquare.core.keyspace import Keyspace
    from townsquare.features.xp.domain.curve import Curve

__all__ = ["IMPORT_CHUNK", "Mee6ImportError", "import_mee6", "read_mee6_leaderboard"]

IMPORT_CHUNK: typing.Final = 1000


class Mee6ImportError(ValueError):
    """The file is not a MEE6 leaderboard this importer understands."""


class _Player(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[int, Field(ge=1, le=2**64 - 1)]
    xp: Annotated[int, Field(ge=0)]
    message_count: Annotated[int, Field(ge=0)] | None = None


class _Leaderboard(BaseModel):
    model_config = ConfigDict(extra="ignore")

    players: list[_Player]


def read_mee6_leaderboard(path: Path) -> list[tuple[int, int, int | None]]:
    """`(user_id, xp, message_count)` per player; a clear :class:`Mee6ImportError` otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise Mee6ImportError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise Mee6ImportError(f"{path} is not JSON: {error}") from None
    try:
        board = _Leaderboard.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise Mee6ImportError(
            f"{path}: {where or 'the document'}: {first['msg']} "
            '(expected {"players": [{"id": "...", "xp": N, "message_count": N}, ...]})'
        ) from None
    seen: set[int] = set()
    for player in board.players:
        if player.id in seen:
            raise Mee6ImportError(f"{path}: player {player.id} is listed twice")
        seen.add(player.id)
    return [(p.id, p.xp, p.message_count) for p in board.players]


async def import_mee6(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    path: Path,
    guild_id: int,
    progress: Callable[[int, int], None] | None = None,
    *,
    curve: Curve,
    actor: Actor,
) -> int:
    """Set the guild's totals from the leaderboard at `path`; returns players imported.

    The whole file is validated before anything is written. `progress(done, total)` is
    called after every chunk (for the CLI's progress bar). Reward roles follow the imported
    levels; no level-up notices are sent.
    """
    players = read_mee6_leaderboard(path)
    if progress is not None:
        progress(0, len(players))
    for start in range(0, len(players), IMPORT_CHUNK):
        part = players[start : start + IMPORT_CHUNK]
        await adjust_totals(
            redis,
            keyspace,
            guild_id,
            [(user, xp, count, None) for user, xp, count in part],
            mode="set",
            curve=curve,
            notify=False,
        )
        if progress is not None:
            progress(start + len(part), len(players))
    await audit_xp_change(
        "xp.import_mee6",
        actor,
        guild_id=guild_id,
        user_id=None,
        before=None,
        after={"players": len(players), "file": path.name},
    )
    return len(players)
