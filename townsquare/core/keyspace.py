"""Every Redis key Townsquare uses is built here (flow 12).

A key is `<namespace>:<family>:<part>:<part>...`. The namespace is configurable so several
deployments can share one Redis; a family is registered below with its Redis type, the parts it
takes, its TTL policy and the component that writes it. Parts are validated: snowflakes are
integers in 1..2**64-1, names are short lowercase tokens, and free text is never put in a key
verbatim (it is hashed). Building a key of an unregistered family, or with a bad part, raises
:class:`KeyspaceError`. `docs/redis-keys.md` lists every family; a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "FAMILIES",
    "GUILD_BUCKETS",
    "Family",
    "HashTag",
    "Keyspace",
    "KeyspaceError",
    "Part",
    "RedisType",
    "TTLPolicy",
    "TagScope",
    "family_of",
    "guild_bucket",
    "hash_tag",
    "key_template",
    "register_families",
    "tagged_parts",
]

SNOWFLAKE_MAX = 2**64 - 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_NAMESPACE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

GUILD_BUCKETS: typing.Final = 256
"""Guild-scoped keys are tagged with their guild's bucket (`guild_id % GUILD_BUCKETS`), not the
guild id itself, so that a set indexing guilds (`xp_dirty_guilds`, ...) can be sharded into the
same buckets and a guild's script touches its keys and its bucket of the index in one slot."""


class KeyspaceError(ValueError):
    """A key was asked for that the keyspace does not allow."""


class RedisType(enum.StrEnum):
    STRING = "string"
    HASH = "hash"
    SET = "set"
    SORTED_SET = "zset"
    STREAM = "stream"
    LIST = "list"
    PREFIX = "prefix"
    """Not a key itself: a prefix handed to a library that appends its own suffixes."""


class Part(enum.StrEnum):
    SNOWFLAKE = "snowflake"
    """A Discord id: an integer in 1..2**64-1."""
    NAME = "name"
    """A short lowercase token from code or config: `[a-z0-9][a-z0-9_.-]{0,63}`."""
    INDEX = "index"
    """A non-negative integer such as a shard id."""
    HASHED = "hashed"
    """Free text, stored as the first 32 hex digits of its SHA-256."""


@dataclasses.dataclass(frozen=True, slots=True)
class TTLPolicy:
    """How long keys of a family live."""

    seconds: int | None
    """Fixed lifetime; None when the key lives until deleted or its TTL is set by the writer."""
    rule: str
    """The policy in words, for docs and reviewers."""

    @classmethod
    def persistent(cls, why: str) -> TTLPolicy:
        return cls(None, f"none: {why}")

    @classmethod
    def fixed(cls, seconds: int, why: str) -> TTLPolicy:
        return cls(seconds, f"{seconds} s: {why}")

    @classmethod
    def by_writer(cls, why: str) -> TTLPolicy:
        return cls(None, f"set by the writer: {why}")


class TagScope(enum.StrEnum):
    NONE = "none"
    """No hash tag: every command and script uses a key of the family alone."""
    FIRST_PART = "first part"
    """The first part is the tag (a pipeline's stream, retry set and dead letters; a shard's
    lease and session): `<ns>:<family>:{<first part>}:<other parts>`."""
    GUILD = "guild"
    """The first part is a guild id (or another id that owns keys, e.g. a giveaway's); the tag
    is its bucket (:func:`guild_bucket`): `<ns>:<family>:{g<bucket>}:<id>...`."""
    GUILD_BUCKET = "guild bucket"
    """The first part is a bucket (:func:`guild_bucket`): a guild index sharded per bucket."""
    FIXED = "fixed"
    """One fixed tag for families always used together (e.g. the alerts)."""


@dataclasses.dataclass(frozen=True, slots=True)
class HashTag:
    """Which slot a family's keys live in on a Redis Cluster (docs/redis-keys.md, Cluster).

    Every key a Lua script or a multi-key command touches together must share a hash tag.
    """

    scope: TagScope
    fixed: str = ""
    """The tag of a :attr:`TagScope.FIXED` family."""

    @classmethod
    def none(cls) -> HashTag:
        return cls(TagScope.NONE)

    @classmethod
    def first_part(cls) -> HashTag:
        return cls(TagScope.FIRST_PART)

    @classmethod
    def guild(cls) -> HashTag:
        return cls(TagScope.GUILD)

    @classmethod
    def guild_bucket(cls) -> HashTag:
        return cls(TagScope.GUILD_BUCKET)

    @classmethod
    def group(cls, tag: str) -> HashTag:
        return cls(TagScope.FIXED, tag)


_NO_TAG: typing.Final = HashTag.none()


@dataclasses.dataclass(frozen=True, slots=True)
class Family:
    name: str
    redis_type: RedisType
    parts: tuple[Part, ...]
    ttl: TTLPolicy
    writer: str
    """Which component writes keys of this family."""
    purpose: str
    tag: HashTag = _NO_TAG
    """The hash tag its keys share with the keys they are used with (cluster slots)."""

    def __post_init__(self) -> None:
        first = self.parts[0] if self.parts else None
        valid = {
            TagScope.NONE: True,
            TagScope.FIRST_PART: first is not None,
            TagScope.GUILD: first in (Part.SNOWFLAKE, Part.INDEX),
            TagScope.GUILD_BUCKET: first is Part.INDEX,
            TagScope.FIXED: bool(self.tag.fixed) and _NAME.match(self.tag.fixed) is not None,
        }[self.tag.scope]
        if not valid:
            raise KeyspaceError(f"family {self.name!r}: tag {self.tag} does not fit its parts")


FAMILIES: typing.Final[dict[str, Family]] = {}


def _register(family: Family) -> None:
    if not _NAME.match(family.name) or family.name in FAMILIES:
        raise KeyspaceError(f"bad or duplicate family name {family.name!r}")
    FAMILIES[family.name] = family


def register_families(families: typing.Iterable[Family]) -> None:
    """Register a feature's families; registering the same family again changes nothing.

    The kernel's families are registered below; a feature's come from its declaration
    (`townsquare.core.features`), when the feature is loaded.
    """
    for family in families:
        if FAMILIES.get(family.name) != family:
            _register(family)


for _family in (
    Family(
        "stream",
        RedisType.STREAM,
        (Part.NAME,),
        TTLPolicy.persistent(
            "capped by MAXLEN per pipeline; entries are acknowledged, not expired"
        ),
        "shards and the HTTP service (XADD); workers read through consumer groups",
        "A pipeline's work: `xp`, `automod`, `ai`, `jobs`.",
        HashTag.first_part(),
    ),
    Family(
        "dead_letter",
        RedisType.STREAM,
        (Part.NAME,),
        TTLPolicy.persistent(
            "capped by tasks.dead_letter_maxlen; replayed or dropped by operators"
        ),
        "workers, after a task's last attempt",
        "Jobs that failed every attempt, with task name, arguments, error and attempt count.",
        HashTag.first_part(),
    ),
    Family(
        "reclaim_lock",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.fixed(30, "held only while one worker claims abandoned messages"),
        "workers' periodic reclaim",
        "Lets one worker at a time run XAUTOCLAIM on a pipeline stream.",
        HashTag.first_part(),
    ),
    Family(
        "retry",
        RedisType.SORTED_SET,
        (Part.NAME,),
        TTLPolicy.persistent("members leave when they are due and move back into the stream"),
        "workers' retry middleware (ZADD); every worker's retry pump moves due members",
        "Per pipeline: failed messages (JSON) waiting for their next attempt; score = due ms.",
        HashTag.first_part(),
    ),
    Family(
        "done",
        RedisType.STRING,
        (Part.NAME, Part.HASHED),
        TTLPolicy.by_writer("as long as a redelivery of the event is possible, 1 day by default"),
        "tasks, through the idempotency helper",
        "Per scope and hashed event id: marks an event as handled so a redelivery changes nothing.",
    ),
    Family(
        "ping",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.fixed(300, "only health checks and tests read it, right after the ping"),
        "the built-in `townsquare.ping` job",
        "Per ping token: how many times the ping job ran.",
    ),
    Family(
        "schedules",
        RedisType.PREFIX,
        (),
        TTLPolicy.by_writer("taskiq's schedule source deletes one-off schedules once they fire"),
        "the API and workers (schedule timed work); the scheduler reads",
        "Prefix of taskiq-redis's schedule source (timed work such as giveaway ends).",
        HashTag.group("schedules"),
    ),
    Family(
        "scheduler_lock",
        RedisType.STRING,
        (),
        TTLPolicy.fixed(30, "renewed by the running scheduler; expiry hands over to a standby"),
        "the scheduler",
        "Makes sure one scheduler fires timed work even when several are started.",
    ),
    Family(
        "guild_config",
        RedisType.STRING,
        (Part.SNOWFLAKE,),
        TTLPolicy.fixed(
            3600, "a cache of PostgreSQL; rewritten on every change, refilled on a miss"
        ),
        "the HTTP service on a config change; any reader on a miss",
        "A guild's configuration document as JSON, with its version.",
    ),
    Family(
        "idempotency_key",
        RedisType.STRING,
        (Part.HASHED,),
        TTLPolicy.fixed(86_400, "a client retries a call for seconds; a day leaves a wide margin"),
        "the HTTP service, on an internal API write that carries an `Idempotency-Key`",
        "Per key: the request's fingerprint, then its stored answer, replayed to a retry.",
    ),
    Family(
        "oauth_state",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.fixed(600, "a login must come back from Discord within 10 minutes"),
        "the HTTP service when a dashboard login starts; taken (GETDEL) by the callback",
        "Per OAuth2 `state`: the page to return to; spent once, so a replayed callback fails.",
    ),
    Family(
        "dashboard_session",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.by_writer("the session's refresh lifetime; deleted at logout"),
        "the HTTP service at login, OAuth token refresh and logout",
        "Per dashboard session id: the user's Discord OAuth tokens (JSON), kept server-side.",
        HashTag.first_part(),
    ),
    Family(
        "session_revoked",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.by_writer("until the session's last token (the refresh token) expires"),
        "the HTTP service at logout",
        "Per dashboard session id: present when the session's JWTs are revoked.",
        HashTag.first_part(),
    ),
    Family(
        "session_guilds",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.by_writer("http.manage_check_seconds; a change re-checks Discord after that"),
        "the HTTP service, from Discord's `/users/@me/guilds`",
        "Per dashboard session id: the guilds the user may manage (JSON), a short cache.",
        HashTag.first_part(),
    ),
    Family(
        "guild_channels",
        RedisType.STRING,
        (Part.SNOWFLAKE,),
        TTLPolicy.by_writer(
            "60 s for an answer (a channel made in Discord shows within a minute), "
            "10 s for a failure"
        ),
        "the HTTP service, from Discord's `GET /guilds/{id}/channels` (bot token)",
        "Per guild: the text channels the dashboard's channel pickers offer (JSON), a short cache.",
    ),
    Family(
        "guild_roles",
        RedisType.STRING,
        (Part.SNOWFLAKE,),
        TTLPolicy.by_writer(
            "60 s for an answer (a role made in Discord shows within a minute), 10 s for a failure"
        ),
        "the HTTP service, from Discord's `GET /guilds/{id}/roles` (bot token)",
        "Per guild: the roles the dashboard's role pickers offer (JSON), a short cache.",
    ),
    Family(
        "guild_member_profile",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("600 s for an answer, 60 s for a member Discord did not give"),
        "the HTTP service, from Discord's `GET /guilds/{id}/members/{user}` (bot token)",
        "Per guild and member: the name and avatar the public leaderboard page shows (JSON).",
    ),
    Family(
        "timers",
        RedisType.SORTED_SET,
        (Part.NAME,),
        TTLPolicy.persistent("members are removed when their timer fires"),
        "the API and workers; the scheduler fires due members",
        "Due times (score) of timed work by kind, e.g. `claim_window`.",
    ),
    Family(
        "shard_health",
        RedisType.HASH,
        (Part.INDEX,),
        TTLPolicy.fixed(15, "written every 5 s; a shard silent for 15 s disappears"),
        "shards",
        "Per shard id: state, latency, guilds, events/s, session id, resume counts.",
    ),
    Family(
        "shard_session",
        RedisType.HASH,
        (Part.INDEX,),
        TTLPolicy.fixed(
            600, "renewed with every write; older than Discord's resume window is worthless"
        ),
        "shards, after each delivery to the streams, while holding the shard's lease",
        "Per shard id: the gateway session to RESUME after a restart (session id, resume URL, "
        "last sequence whose records are in the streams, shard count, bot user id).",
        HashTag.first_part(),
    ),
    Family(
        "member_requests",
        RedisType.LIST,
        (Part.INDEX,),
        TTLPolicy.by_writer(
            "10 s after the last push: a list no shard reads empties itself; each request also "
            "carries its own expiry"
        ),
        "workers (RPUSH); the shard process running that shard id pops (BLPOP)",
        "Per shard id: requests for members by id (JSON: guild, up to 100 user ids, nonce, "
        "expiry) that the shard sends as gateway op 8 (core/member_requests.py).",
    ),
    Family(
        "member_replies",
        RedisType.LIST,
        (Part.NAME,),
        TTLPolicy.by_writer("30 s after the shard's push: a reply whose worker gave up"),
        "shards, once every GUILD_MEMBERS_CHUNK of a request has arrived",
        "Per request nonce: the members found (roles, joined_at) and the ids not found.",
    ),
    Family(
        "member_requests_ready",
        RedisType.STRING,
        (Part.INDEX,),
        TTLPolicy.fixed(10, "renewed every 3 s while the shard is connected and may send op 8"),
        "shards whose intents include GUILD_MEMBERS",
        "Per shard id: present while the shard answers `member_requests`; absent, workers "
        "use REST at once.",
    ),
    Family(
        "shard_lease",
        RedisType.STRING,
        (Part.INDEX,),
        TTLPolicy.fixed(10, "renewed every 3 s by the process running the shard"),
        "shards",
        "Per shard id: the process (`host:pid:token`) that may resume and record its session.",
        HashTag.first_part(),
    ),
    Family(
        "identify_slot",
        RedisType.STRING,
        (Part.INDEX,),
        TTLPolicy.by_writer(
            "the identify interval (Discord's 5 s) + 0.25 s, set again when the IDENTIFY has "
            "left; a dead process's slot frees itself"
        ),
        "shards, just before and after each IDENTIFY",
        "Per identify bucket (`shard_id % max_concurrency`): the shard (`host:pid:shard:token`) "
        "that identified last; held, no other shard of any process identifies in the bucket.",
    ),
    Family(
        "alerts",
        RedisType.STREAM,
        (),
        TTLPolicy.persistent("capped by MAXLEN; the console shows the newest"),
        "every process, on conditions an operator or a guild's admins should see",
        "Every alert: level, source, message, key and, for a guild's, guild_id (docs/alerts.md).",
        HashTag.group("alerts"),
    ),
    Family(
        "premium_tiers",
        RedisType.HASH,
        (),
        TTLPolicy.persistent(
            "a copy of PostgreSQL's subscriptions; rebuilt at the premium job's start and "
            "reconciliation"
        ),
        "the premium feature, whenever a guild's subscriptions or grace period change",
        "Guild id -> its effective premium tier key; a guild absent is on the free tier. "
        "Every process's premium gate reads it (core/premium.py).",
    ),
    Family(
        "alert_once",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.by_writer("the span within which one alert covers every process's report"),
        "every process raising an alert that several processes see at once",
        "Per condition (`redis_unavailable`): set NX by the process that raises its alert.",
    ),
    Family(
        "guild_alerts",
        RedisType.STREAM,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("capped at the newest 200 per guild by MAXLEN"),
        "every process raising an alert about a guild (same script as the `alerts` entry)",
        "Per guild: its alerts with their `alert_id` in `alerts`; the dashboard lists the open.",
        HashTag.group("alerts"),
    ),
    Family(
        "alert_acks",
        RedisType.SORTED_SET,
        (),
        TTLPolicy.persistent("members older than the `alerts` stream's oldest entry are removed"),
        "the console and the dashboard, when someone acknowledges an alert",
        "Acknowledged alert ids (score: the id's milliseconds); an alert not here is open.",
        HashTag.group("alerts"),
    ),
    Family(
        "alert_cursor",
        RedisType.STRING,
        (),
        TTLPolicy.persistent("one id, moved forward by every delivery round"),
        "the alert delivery task",
        "The id of the last `alerts` entry routed into windows and the outbox.",
        HashTag.group("alerts"),
    ),
    Family(
        "alert_windows",
        RedisType.HASH,
        (),
        TTLPolicy.persistent("a field is removed when its window closes without repeats"),
        "the alert delivery task",
        "Per destination and alert key: the open deduplication window (JSON, repeats counted).",
        HashTag.group("alerts"),
    ),
    Family(
        "alert_window_ends",
        RedisType.SORTED_SET,
        (),
        TTLPolicy.persistent("a member leaves with its window"),
        "the alert delivery task",
        "When each open window closes (score ms); a batch of due ones is read per round.",
        HashTag.group("alerts"),
    ),
    Family(
        "alert_outbox",
        RedisType.STREAM,
        (),
        TTLPolicy.persistent("an entry is deleted once delivered (or refused for good)"),
        "the alert delivery task",
        "Messages to deliver, with their destination; the entry id is Discord's `nonce`.",
        HashTag.group("alerts"),
    ),
    Family(
        "alert_rate",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.by_writer("alerting.per_destination_seconds: one fixed window"),
        "the alert delivery task",
        "Per destination (`ops`, `g<guild id>`): messages sent in the current window.",
    ),
    Family(
        "alert_delivery_lock",
        RedisType.STRING,
        (),
        TTLPolicy.fixed(30, "held by one delivery round; a dead holder's expires"),
        "the alert delivery task",
        "Lets one worker at a time deliver alerts, so no message is sent twice.",
    ),
    Family(
        "backup_lock",
        RedisType.STRING,
        (),
        TTLPolicy.fixed(60, "renewed while a scheduled backup runs; a dead holder's expires"),
        "the scheduler's scheduled backups",
        "Lets one scheduler at a time write a scheduled backup (docs/backups.md).",
    ),
    Family(
        "activity_counts",
        RedisType.HASH,
        (Part.SNOWFLAKE, Part.INDEX),
        TTLPolicy.by_writer("3 days after the last write; rolled up every minute"),
        "the pipelines (the XP award script), in the scripts that do the work",
        "Per guild and hour (Unix ms // 3,600,000): metric -> count, for the overview's "
        "rollups (docs/dashboard.md).",
        HashTag.guild(),
    ),
    Family(
        "activity_members",
        RedisType.SET,
        (Part.SNOWFLAKE, Part.INDEX),
        TTLPolicy.by_writer("6 hours after the last write: past the hour and its lateness"),
        "the pipelines (the XP award script)",
        "Per guild and hour: the ids of the members who posted (active members).",
        HashTag.guild(),
    ),
    Family(
        "activity_members_day",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.INDEX),
        TTLPolicy.by_writer("3 days after the last write"),
        "the `activity.roll_up` job, from the day's hour sets",
        "Per guild and UTC day (hour // 24): a HyperLogLog of the members who posted.",
        HashTag.guild(),
    ),
    Family(
        "activity_pending",
        RedisType.HASH,
        (Part.INDEX,),
        TTLPolicy.persistent("a field leaves when the rollup has written its bucket"),
        "the pipelines; the `activity.roll_up` job removes",
        "Per guild bucket: `<guild>-<hour>` -> change counter of hot activity buckets not yet "
        "rolled up.",
        HashTag.guild_bucket(),
    ),
    Family(
        "activity_done",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.NAME, Part.HASHED),
        TTLPolicy.by_writer("a day: longer than any retry schedule of the event"),
        "the pipelines, in the script that counts an event once",
        "Per guild, scope and hashed event id: marks an event as counted (in the guild's slot, "
        "so the counting script touches one slot).",
        HashTag.guild(),
    ),
    Family(
        "restore",
        RedisType.STRING,
        (),
        TTLPolicy.persistent("deleted when the restore completes; left by one that was killed"),
        "`townsquare restore`, before it writes anything",
        "The backup being restored and its stage (JSON), so a killed restore resumes.",
    ),
):
    _register(_family)


class Keyspace:
    """Builds validated keys under one namespace."""

    __slots__ = ("namespace",)

    def __init__(self, namespace: str) -> None:
        if not _NAMESPACE.match(namespace):
            raise KeyspaceError(
                f"namespace {namespace!r} must match {_NAMESPACE.pattern} (lowercase, short)"
            )
        self.namespace = namespace

    def key(self, family: str, *parts: int | str) -> str:
        """The key of `family` for `parts`; raises :class:`KeyspaceError` on anything invalid."""
        spec = family_of(family)
        if len(parts) != len(spec.parts):
            raise KeyspaceError(
                f"family {family!r} takes {len(spec.parts)} part(s) "
                f"({', '.join(spec.parts) or 'none'}), got {len(parts)}"
            )
        rendered = [
            _render(family, kind, value) for kind, value in zip(spec.parts, parts, strict=True)
        ]
        return ":".join((self.namespace, family, *tagged_parts(spec, rendered)))

    def pattern(self, family: str) -> str:
        """A SCAN pattern matching every key of `family`."""
        spec = family_of(family)
        tag = ["*"] if spec.tag.scope in (TagScope.GUILD, TagScope.FIXED) else []
        return ":".join((self.namespace, family, *tag, *("*" for _ in spec.parts)))

    def bucket_keys(self, family: str) -> list[str]:
        """Every key of a family sharded per guild bucket (:data:`TagScope.GUILD_BUCKET`)."""
        if family_of(family).tag.scope is not TagScope.GUILD_BUCKET:
            raise KeyspaceError(f"family {family!r} is not sharded per guild bucket")
        return [self.key(family, bucket) for bucket in range(GUILD_BUCKETS)]

    @property
    def prefix(self) -> str:
        """`<namespace>:`, the start of every key of this keyspace."""
        return self.namespace + ":"

    def everything(self) -> str:
        """A SCAN pattern matching every key of the namespace (backups and restores)."""
        return self.prefix + "*"

    def relocated(self, relative: str) -> str:
        """A key stored without its namespace (as a backup stores keys), in this namespace."""
        return self.prefix + relative

    def ttl(self, family: str) -> int | None:
        """The fixed TTL of `family` in seconds, or None."""
        return family_of(family).ttl.seconds


def key_template(name: str) -> str:
    """How keys of family `name` look, with `<ns>` and `<part kind>` placeholders (the docs)."""
    spec = family_of(name)
    parts = [f"<{kind}>" for kind in spec.parts]
    match spec.tag.scope:
        case TagScope.NONE:
            pass
        case TagScope.FIRST_PART:
            parts[0] = "{" + parts[0] + "}"
        case TagScope.GUILD:
            parts.insert(0, "{g<bucket>}")
        case TagScope.GUILD_BUCKET:
            parts[0] = "{g<bucket>}"
        case TagScope.FIXED:
            parts.insert(0, "{" + spec.tag.fixed + "}")
    return ":".join(("<ns>", name, *parts))


def tagged_parts(family: Family, rendered: Sequence[str]) -> list[str]:
    """A key's rendered parts (after the family's name) with the family's hash tag in place;
    raises :class:`KeyspaceError` for a bucket past :data:`GUILD_BUCKETS`."""
    parts = list(rendered)
    match family.tag.scope:
        case TagScope.NONE:
            pass
        case TagScope.FIRST_PART:
            parts[0] = "{" + parts[0] + "}"
        case TagScope.GUILD:
            parts.insert(0, "{" + _bucket_tag(guild_bucket(int(parts[0]))) + "}")
        case TagScope.GUILD_BUCKET:
            if int(parts[0]) >= GUILD_BUCKETS:
                raise KeyspaceError(f"{family.name}: {parts[0]} is not a bucket of guilds")
            parts[0] = "{" + _bucket_tag(int(parts[0])) + "}"
        case TagScope.FIXED:
            parts.insert(0, "{" + family.tag.fixed + "}")
    return parts


def guild_bucket(guild_id: int) -> int:
    """The bucket of `guild_id`: its keys' hash tag, and its shard of a guild index."""
    return guild_id % GUILD_BUCKETS


def hash_tag(key: str) -> str:
    """The part of `key` Redis Cluster hashes: the first non-empty `{...}`, else the key."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def _bucket_tag(bucket: int) -> str:
    return f"g{bucket}"


def family_of(name: str) -> Family:
    family = FAMILIES.get(name)
    if family is None:
        # A feature's family is registered when the feature is loaded; load the enabled ones
        # once, so a process that builds a feature's key first still finds it.
        from townsquare.core.features import enabled_features

        enabled_features()
        family = FAMILIES.get(name)
    if family is None:
        raise KeyspaceError(f"unregistered key family {name!r}")
    return family


def _render(family: str, kind: Part, value: int | str) -> str:
    match kind:
        case Part.SNOWFLAKE:
            if type(value) is not int or not 1 <= value <= SNOWFLAKE_MAX:
                raise KeyspaceError(f"{family}: {value!r} is not a snowflake (1..2**64-1)")
            return str(value)
        case Part.INDEX:
            if type(value) is not int or value < 0:
                raise KeyspaceError(f"{family}: {value!r} is not a non-negative integer")
            return str(value)
        case Part.NAME:
            if not isinstance(value, str) or not _NAME.match(value):
                raise KeyspaceError(f"{family}: {value!r} is not a name ({_NAME.pattern})")
            return value
        case Part.HASHED:
            if not isinstance(value, str):
                raise KeyspaceError(f"{family}: hashed parts are text, got {value!r}")
            return hashlib.sha256(value.encode()).hexdigest()[:32]
