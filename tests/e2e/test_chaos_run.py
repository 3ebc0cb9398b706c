"""The short chaos run of `make test` (issue 17): `python -m tests.chaos --short` as a test.

The whole platform as `townsquare up` runs it (shards, two workers, the scheduler, HTTP as
supervised processes) on the sandbox, with its crowd chatting, spamming and clicking, the
owner starting giveaways and members entering them, questions to the assistant and the
streamers going live. A worker, Valkey (AOF on) and the shard process are SIGKILLed under
them; after a drain every invariant of docs/reliability.md must hold: XP and message counts
exactly the reference model's for every message the sandbox's members sent, no notice,
announcement or card twice, every giveaway ended once, every question answered, escalation
exactly the ladder's, no dead letter, every queue drained, an alert per crash; and after the
stop no process, listening port, or lock in Redis left. About a minute.
The full run, with every fault repeated, is `make chaos`.
"""

from __future__ import annotations

import typing

import pytest

from tests.chaos.run import Options, run_chaos

if typing.TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


@pytest.mark.long
@pytest.mark.timeout(300)  # about a minute alone; five processes start on a shared machine
async def test_the_short_chaos_run_holds_every_invariant(
    tmp_path: Path, server_database_url: str
) -> None:
    report = await run_chaos(
        Options(workdir=tmp_path, short=True, server_database_url=server_database_url)
    )
    assert report.faults["SIGKILL worker"] == 1 and report.faults["SIGKILL shards"] == 1
    assert report.messages > 0, "the crowd spoke"
    failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.held]
    assert not failed, "\n" + report.table()
