"""The arithmetic of generated guilds: how many members each gets, and which people.

A scenario's `generated` section (`scenario.GeneratedSpec`) asks for thousands of guilds and
hundreds of thousands of members without spelling them out. Here is how they are dealt, in
plain integers so that the shape can be checked without building anything:

- sizes follow a power law over the guilds' ranks (a few big communities, a long tail of
  small ones, as a public bot's guilds are), every guild keeping `min_members`, the rounding
  remainder going to the biggest, then shuffled by the seed so big guilds land on any shard;
- a guild of `n` members takes `n` consecutive people (wrapping around) from a seeded start,
  so nobody is in a guild twice and most people are in several guilds.

The same seed always gives the same guilds.
"""

from __future__ import annotations

import random
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["GeneratedShape", "guild_sizes", "member_people"]


class GeneratedShape(typing.NamedTuple):
    """The numbers that decide a generated world's guilds."""

    guilds: int
    members: int
    """Human memberships over every guild (the bot's own are not counted)."""
    people: int
    """Distinct users the members are drawn from."""
    seed: int
    skew: float
    """The power law's exponent: the guild of rank `r` (from 0) weighs `1 / (r + 1) ** skew`."""
    min_members: int


def guild_sizes(shape: GeneratedShape) -> list[int]:
    """Each guild's number of members, in the order the guilds are made; they add up to
    `shape.members`. Raises ValueError when the numbers cannot be met."""
    if shape.guilds < 1:
        raise ValueError(f"generated: guilds must be at least 1, got {shape.guilds}")
    if shape.min_members < 1:
        raise ValueError(f"generated: min_members must be at least 1, got {shape.min_members}")
    floor = shape.guilds * shape.min_members
    if shape.members < floor:
        msg = (
            f"generated: {shape.members} members cannot give each of {shape.guilds} guilds "
            f"its {shape.min_members} (at least {floor} are needed)"
        )
        raise ValueError(msg)
    weights = [1 / (rank + 1) ** shape.skew for rank in range(shape.guilds)]
    total = sum(weights)
    spare = shape.members - floor
    sizes = [shape.min_members + int(spare * weight / total) for weight in weights]
    sizes[0] += shape.members - sum(sizes)
    if sizes[0] > shape.people:
        msg = (
            f"generated: the biggest guild would have {sizes[0]} members but there are only "
            f"{shape.people} people; raise people or lower skew"
        )
        raise ValueError(msg)
    random.Random(shape.seed).shuffle(sizes)  # noqa: S311 - a reproducible world, not secrets
    return sizes


def member_people(shape: GeneratedShape, sizes: list[int]) -> Iterator[range]:
    """For each guild (as `guild_sizes` ordered them), the indices of its people, as
    consecutive numbers modulo `shape.people` (a `range` to take `% people` of)."""
    starts = random.Random(shape.seed + 1)  # noqa: S311 - a reproducible world, not secrets
    for size in sizes:
        start = starts.randrange(shape.people)
        yield range(start, start + size)
