"""A feature's per-process cache lives on its process's resources (`ProcessCaches`): made empty
on first use, the same object afterwards, one per resources object, and a name is one slot."""

from __future__ import annotations

import pytest

from townsquare.core.process_caches import CacheSlot, ProcessCaches

SEEN = CacheSlot[dict[str, int]]("test.seen", dict)


def test_a_slot_is_made_once_per_process_resources() -> None:
    caches, other = ProcessCaches(), ProcessCaches()
    caches.get(SEEN)["alder"] = 1

    assert caches.get(SEEN) == {"alder": 1}
    assert caches.get(SEEN) is caches.get(SEEN)
    assert other.get(SEEN) == {}  # another app or worker in this interpreter starts empty


def test_two_slots_cannot_share_a_name() -> None:
    caches = ProcessCaches()
    caches.get(SEEN)
    with pytest.raises(ValueError, match=r"test\.seen"):
        caches.get(CacheSlot[list[int]]("test.seen", list))
