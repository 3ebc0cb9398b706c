"""End-to-end tests: the sandbox's 3 s window for an interaction's first answer is 15 s here.

Discord forgets an interaction not answered within 3 seconds, and the sandbox does the same
(tests/sandbox/test_hikari.py checks it). The end-to-end tests run six at a time on two cores,
where a shard that has just started can take longer than 3 s to defer its first command; that
is a question of speed, measured by the benchmarks, not of behaviour, which these tests check.
"""

from __future__ import annotations

import datetime

import pytest

from townsquare.sandbox.rest import routes_interactions

E2E_RESPONSE_DEADLINE = datetime.timedelta(seconds=15)


@pytest.fixture(autouse=True)
def _patient_interactions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_interactions, "INITIAL_RESPONSE_DEADLINE", E2E_RESPONSE_DEADLINE)
