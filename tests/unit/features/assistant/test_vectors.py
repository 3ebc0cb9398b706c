"""Reciprocal rank fusion, the in-process nearest search and the stored vector format."""

from __future__ import annotations

import numpy as np
import pytest

from townsquare.features.assistant.domain.embeddings import decode_vectors, unit_vector
from townsquare.features.assistant.domain.hybrid import RRF_K, reciprocal_rank_fusion
from townsquare.features.assistant.domain.vectors import GuildVectors


def test_fusion_adds_reciprocal_ranks_so_agreement_wins() -> None:
    fused = reciprocal_rank_fusion([[10, 20, 30], [30, 40]])
    scores = dict(fused)
    assert [chunk for chunk, _ in fused] == [30, 10, 20, 40]
    assert scores[30] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert scores[10] == pytest.approx(1 / (RRF_K + 1))
    assert reciprocal_rank_fusion([[], []]) == []


def _unit(*values: float) -> np.ndarray:
    vector = np.zeros(768, dtype=np.float32)
    vector[: len(values)] = values
    return unit_vector(vector.tolist())


def test_nearest_is_exact_best_first_and_above_the_floor() -> None:
    rows = [_unit(1, 0), _unit(0, 1), _unit(1, 1), _unit(-1, 0)]
    vectors = GuildVectors(1, np.array([5, 6, 7, 8], dtype=np.int64), np.stack(rows))
    found = vectors.nearest(_unit(1, 0.1), top=3, floor=0.0)
    assert [chunk for chunk, _ in found] == [5, 7, 6]
    assert found[0][1] == pytest.approx(float(_unit(1, 0.1) @ rows[0]))
    assert [chunk for chunk, _ in vectors.nearest(_unit(1, 0.1), top=10, floor=0.5)] == [5, 7]
    empty = GuildVectors(1, np.empty(0, dtype=np.int64), np.empty((0, 768), dtype=np.float32))
    assert empty.nearest(_unit(1), top=3, floor=0.0) == []


def test_vectors_are_stored_as_unit_float32_and_read_back() -> None:
    vector = unit_vector([3.0, 4.0] + [0.0] * 766)
    assert vector[:2].tolist() == pytest.approx([0.6, 0.8])
    blob = vector.astype("<f4").tobytes()
    assert len(blob) == 768 * 4
    assert decode_vectors([blob, blob]).shape == (2, 768)
    for wrong in ([1.0] * 3072, [0.0] * 768, [float("nan")] * 768):
        with pytest.raises(ValueError, match="embedding"):
            unit_vector(wrong)
