"""The verifiable draw: winners are a published function of a committed seed and the entries.

At the start a random 32-byte seed is generated; its SHA-256 (the *commitment*) is shown in
the giveaway's embed. At the end the seed is revealed, and anyone holding the entries can
recompute every candidate (docs/giveaways.md, "Verifying a draw"):

- the entries are `(user_id, weight)` sorted by user id, ascending; a weight is 1 plus the
  member's bonus entries;
- position `k` (0, 1, 2, ...) draws one candidate from the entries not drawn yet: with
  `total` the sum of their weights and
  `r = int.from_bytes(sha256(seed + k.to_bytes(8, "big")).digest(), "big") % total`,
  the candidate is the first remaining entry (in user id order) whose running weight sum
  exceeds `r`; it leaves the pool.

A candidate who no longer meets the requirements at draw time is skipped (the reason is
recorded) and the next position is drawn. Rerolls continue the same sequence, so nobody is
ever drawn twice and every winner, skip and reroll stays verifiable. The modulo bias of a
256-bit number reduced by a total below 2**63 is below 2**-190.

:class:`Draw` keeps the remaining weights in a Fenwick tree: building it is O(n) and each
position O(log n), so 100,000 entries draw in milliseconds.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
import secrets
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["SEED_BYTES", "Draw", "DrawError", "commitment", "new_seed", "position_number"]

SEED_BYTES: typing.Final = 32


class DrawError(ValueError):
    """Entries that break the draw's rules (unsorted, repeated, weights below 1), or an
    exhausted pool."""


def new_seed() -> str:
    """A fresh seed: 32 random bytes as 64 lowercase hex digits."""
    return secrets.token_hex(SEED_BYTES)


def commitment(seed: str) -> str:
    """The SHA-256 of the seed's bytes, as hex: published before the seed is."""
    return hashlib.sha256(bytes.fromhex(seed)).hexdigest()


def position_number(seed: str, position: int) -> int:
    """The 256-bit number of `position` in the seed's sequence."""
    digest = hashlib.sha256(bytes.fromhex(seed) + position.to_bytes(8, "big")).digest()
    return int.from_bytes(digest, "big")


class Draw:
    """Candidates drawn one position at a time from `entries` (sorted by user id)."""

    __slots__ = ("_index", "_tree", "_users", "_weights", "remaining_weight", "seed")

    def __init__(self, seed: str, entries: Sequence[tuple[int, int]]) -> None:
        if len(bytes.fromhex(seed)) != SEED_BYTES:
            raise DrawError(f"a seed is {SEED_BYTES} bytes ({2 * SEED_BYTES} hex digits)")
        self.seed = seed
        self._users = [user_id for user_id, _ in entries]
        self._weights = [weight for _, weight in entries]
        if any(map(operator.ge, self._users, self._users[1:])):
            raise DrawError("entries must be sorted by user id, each user once")
        if self._weights and min(self._weights) < 1:
            raise DrawError("every entry weighs at least 1")
        self._index: dict[int, int] | None = None  # built by `remove` only
        # The O(n) Fenwick build: node i sums the entries (i - lowbit(i), i].
        prefix = [0, *itertools.accumulate(self._weights)]
        self._tree = [0, *(prefix[i] - prefix[i & (i - 1)] for i in range(1, len(prefix)))]
        self.remaining_weight = prefix[-1]

    def __len__(self) -> int:
        return sum(1 for weight in self._weights if weight)

    def remove(self, user_ids: Iterable[int]) -> None:
        """Take users out of the pool (candidates of earlier positions, when resuming)."""
        if self._index is None:
            self._index = {user_id: i for i, user_id in enumerate(self._users)}
        for user_id in user_ids:
            i = self._index.get(user_id)
            if i is not None and self._weights[i]:
                self._add(i, -self._weights[i])
                self._weights[i] = 0

    def candidate(self, position: int) -> int | None:
        """The candidate at `position` (who then leaves the pool), or None if nobody is left."""
        if self.remaining_weight <= 0:
            return None
        target = position_number(self.seed, position) % self.remaining_weight
        i = self._find(target)
        user_id = self._users[i]
        self._add(i, -self._weights[i])
        self._weights[i] = 0
        return user_id

    def _add(self, i: int, delta: int) -> None:
        self.remaining_weight += delta
        i += 1
        size = len(self._weights)
        while i <= size:
            self._tree[i] += delta
            i += i & -i

    def _find(self, target: int) -> int:
        """The 0-based index of the first entry whose running sum exceeds `target`."""
        position, step = 0, 1 << len(self._weights).bit_length()
        tree, size = self._tree, len(self._weights)
        while step:
            ahead = position + step
            if ahead <= size and tree[ahead] <= target:
                position = ahead
                target -= tree[ahead]
            step >>= 1
        return position
