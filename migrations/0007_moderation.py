from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from townsquare.core.guard.models import CaseStatus, DMStatus


class Migration(migrations.Migration):
    dependencies = [("townsquare", "0006_assistant")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Case",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("guild_id", fields.BigIntField()),
                ("number", fields.IntField()),
                ("key", fields.CharField(max_length=200)),
                ("action", fields.CharField(max_length=16)),
                ("source", fields.CharField(max_length=16)),
                ("actor_kind", fields.CharField(max_length=16)),
                ("actor_id", fields.BigIntField(null=True)),
                ("actor_name", fields.CharField(default="", max_length=100)),
                ("target_id", fields.BigIntField()),
                ("target_name", fields.CharField(default="", max_length=100)),
                ("reason", fields.TextField(default="", unique=False)),
                (
                    "status",
                    fields.CharEnumField(
                        description="PENDING: pending\nEXECUTED: executed\nBLOCKED: blocked\nDRY_RUN: dry_run\nFAILED: failed",
                        enum_type=CaseStatus,
                        max_length=16,
                    ),
                ),
                ("detail", fields.TextField(default="", unique=False)),
                ("points", fields.IntField(default=0)),
                ("pardoned", fields.BooleanField(default=False)),
                ("duration_seconds", fields.IntField(null=True)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("lifted", fields.BooleanField(default=False)),
                ("channel_id", fields.BigIntField(null=True)),
                ("message_id", fields.BigIntField(null=True)),
                ("message_ids", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ("content", fields.TextField(null=True, unique=False)),
                (
                    "dm_status",
                    fields.CharEnumField(
                        default=DMStatus.NONE,
                        description="NONE: \nPENDING: pending\nSENT: sent\nCLOSED: closed\nFAILED: failed",
                        enum_type=DMStatus,
                        max_length=16,
                    ),
                ),
                ("logged", fields.BooleanField(default=False)),
                ("occurred_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("recorded_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "moderation_cases",
                "app": "townsquare",
                "unique_together": (("guild_id", "number"), ("guild_id", "key")),
                "indexes": [
                    Index(fields=["guild_id", "target_id", "occurred_at"]),
                    Index(fields=["guild_id", "actor_id"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CaseCounter",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("guild_id", fields.BigIntField(unique=True)),
                ("issued", fields.IntField(default=0)),
            ],
            options={
                "table": "moderation_case_counters",
                "app": "townsquare",
                "pk_attr": "id",
                "table_description": "The last case number given out in a guild.",
            },
            bases=["Model"],
        ),
    ]
