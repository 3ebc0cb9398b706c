"""Members joining and leaving, counted for the dashboard's overview (docs/members.md).

- `domain/`: the shards' route (`member_join` and `member_leave` records on the kernel's
  `jobs` pipeline) and the counting, once per event however often its batch is delivered;
- `tasks.py`: the task that counts each batch (workers).

The records exist only while the shards have Discord's privileged GUILD_MEMBERS intent: this
feature asks for it when the operator says the application has it
(`discord.server_members_intent`), and anti-raid asks for it when it is on in the guild
defaults; either way, joins and leaves are counted.
"""

from __future__ import annotations

from townsquare.core.activity import MEMBER_JOINS, MEMBER_LEAVES
from townsquare.core.features import KERNEL_PIPELINE, Feature
from townsquare.features.members.domain.counting import MEMBERS_ROUTE, counts_members

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="members",
    reads_member_joins=counts_members,
    pipelines=(KERNEL_PIPELINE,),
    routes=(MEMBERS_ROUTE,),
    tasks="townsquare.features.members.tasks",
    activity_metrics=(MEMBER_JOINS, MEMBER_LEAVES),
)
