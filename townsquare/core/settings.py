"""Typed settings: `settings.yaml` holds every default, the environment overrides it.

Order, later wins: the defaults file, an operator's settings file (`--settings`, else
`TOWNSQUARE_SETTINGS_FILE` from the environment or `.env`, else, installed, `townsquare.yaml` in
the home), a `.env` file (in the working directory, else in the home), the process environment.
Where the defaults and the home are, in a checkout and in an install: `townsquare.core.paths`;
a relative `paths.var_dir` is under the home. Environment
names are `TOWNSQUARE__SECTION__KEY` (nested sections add more `__`). Secrets are `SecretStr`,
come only from the environment or `.env`, and a secret written into a YAML file is an error.
Every problem is reported as a :class:`SettingsProblem` naming where it came from, which key,
and why; :func:`load_settings` raises :class:`SettingsError` carrying all of them at once.
"""

from __future__ import annotations

import contextvars
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from townsquare.core import paths
from townsquare.core.config.schemas import GuildConfig
from townsquare.core.premium import PremiumSettings, settings_problems

if typing.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "DEFAULTS_FILE",
    "ENV_PREFIX",
    "SECRET_PATHS",
    "SETTINGS_FILE_ENV",
    "AISettings",
    "AlertingSettings",
    "AlertsSettings",
    "BackupsSettings",
    "DatabaseSettings",
    "DiscordSettings",
    "HTTPSettings",
    "LoggingSettings",
    "MetricsSettings",
    "PathsSettings",
    "PipelineSettings",
    "RedisSettings",
    "SandboxSettings",
    "Settings",
    "SettingsError",
    "SettingsProblem",
    "ShardsSettings",
    "TasksSettings",
    "default_env_file",
    "load_settings",
    "masked_dump",
    "redact_url",
    "settings_model",
]

ENV_PREFIX = "TOWNSQUARE__"
SETTINGS_FILE_ENV = "TOWNSQUARE_SETTINGS_FILE"
DEFAULTS_FILE = paths.defaults_file()
"""The defaults: the repository's `settings.yaml` in a checkout, the package's copy installed."""

PositiveSeconds = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsSettings(_Section):
    var_dir: Path
    """Runtime state: embedded servers' data, logs, pid files."""


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"]
    """Lowest level written."""
    format: Literal["auto", "console", "json"]
    """`auto`: readable on a terminal, JSON lines otherwise."""


class DatabaseSettings(_Section):
    url: str
    """`embedded`, or a `postgres://` URL used as given."""
    pool_max: Annotated[int, Field(ge=1, le=200)]
    """Most connections one process opens."""


_EMBEDDED_URL: typing.Final = "embedded"


class RedisSettings(_Section):
    url: str
    """`embedded`, a single server's `redis://` / `rediss://` / `unix://` URL used as given,
    or a Redis Cluster's `redis+cluster://[user:password@]host:port,host:port` (`rediss+cluster`
    with TLS; any reachable node is enough, the others are learnt from it)."""
    cluster_nodes: list[str] = []
    """A Redis Cluster's nodes as `host:port`, instead of a `redis+cluster://` URL (leave
    `url` at `embedded`; a cluster needing a password takes the URL form)."""

    @model_validator(mode="before")
    @classmethod
    def _cluster_nodes_make_the_url(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("cluster_nodes"):
            return data
        nodes = data["cluster_nodes"]
        if data.get("url", _EMBEDDED_URL) != _EMBEDDED_URL:
            raise ValueError("give either redis.url or redis.cluster_nodes, not both")
        if not isinstance(nodes, list) or not all(isinstance(node, str) for node in nodes):
            raise ValueError("redis.cluster_nodes is a list of host:port")
        return {**data, "url": "redis+cluster://" + ",".join(nodes)}

    @field_validator("url")
    @classmethod
    def _known_url(cls, url: str) -> str:
        from townsquare.core.redis_client import RedisURLError, is_cluster_url, parse_cluster_url

        if url == _EMBEDDED_URL:
            return url
        if is_cluster_url(url):
            try:
                parse_cluster_url(url)
            except RedisURLError as error:
                raise ValueError(str(error)) from None
            return url
        if url.split("://", 1)[0].lower() not in ("redis", "rediss", "unix") or "://" not in url:
            raise ValueError(
                "redis.url is `embedded` or a redis://, rediss://, unix:// or redis+cluster:// URL"
            )
        return url

    namespace: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    """Prefix of every key this deployment writes, so deployments can share one Redis."""
    embedded_port: Annotated[int, Field(ge=0, le=65_535)]
    """Port for the embedded Valkey; 0 picks a free one and records it under var/."""
    max_connections: Annotated[int, Field(ge=1, le=100_000)]
    """Most connections one client of a process opens (to each node, on a cluster); a
    command finding them all in use waits for one (`connection_wait_seconds`). The worker's
    tasks, the HTTP service and the shards each have such a client."""
    connection_wait_seconds: PositiveSeconds
    """How long a command waits for a free connection before it fails (`ConnectionError:
    No connection available.`)."""


class DiscordSettings(_Section):
    bot_token: SecretStr | None = None
    """Bot token (secret). Without it the platform runs against the sandbox."""
    application_id: Annotated[int, Field(ge=0)]
    """Discord application id; 0 when running against the sandbox."""
    rest_url: str
    """REST base including the version."""
    oauth_client_id: str
    """OAuth2 client id of the dashboard (empty against the sandbox)."""
    oauth_client_secret: SecretStr | None = None
    """OAuth2 client secret (secret); needed with a bot token."""
    oauth_authorize_url: str
    """Where the dashboard sends admins to log in."""
    oauth_token_url: str
    """Where the dashboard exchanges codes for tokens."""
    server_members_intent: bool = False
    """The application's Server Members intent is switched on in the Developer Portal (Bot >
    Privileged Gateway Intents): the shards then ask for GUILD_MEMBERS and the overview counts
    members joining and leaving. Off, only anti-raid (when on in the guild defaults) asks for
    it; on while the portal has it off, Discord refuses the shards (close 4014)."""


class SandboxSettings(_Section):
    host: str
    """Address the sandbox listens on; loopback only."""
    port: Annotated[int, Field(ge=1, le=65_535)]
    """Port of the sandbox's REST, gateway and OAuth endpoints."""
    scenario: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")]
    """Seeded world to load."""
    crowd_rate: Annotated[float, Field(ge=0)]
    """Simulated community events per second; 0 turns the crowd off."""
    seed: int
    """Seed of the crowd's randomness, so a run can be repeated."""


class HTTPSettings(_Section):
    host: str
    """Address the HTTP service binds."""
    port: Annotated[int, Field(ge=1, le=65_535)]
    """Port the HTTP service binds."""
    public_url: str
    """URL users reach the dashboard at (OAuth redirect and links)."""
    jwt_signing_key: SecretStr | None = None
    """Key that signs dashboard sessions (secret)."""
    service_token: SecretStr | None = None
    """Token the shards present to the internal API (secret)."""
    internal_url: str = "http://127.0.0.1:8080"
    """Where the shards reach the HTTP service's internal API."""
    internal_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 2.0
    """How long one internal API request may take before it counts as failed."""
    internal_retry_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    """Attempts per internal API call on 5xx answers and connection errors."""
    internal_retry_max_seconds: Annotated[float, Field(ge=0, le=60)] = 5.0
    """Time after which an internal API call stops retrying, whatever the attempts left."""
    internal_breaker_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    """Failed internal API calls in a row (after retries) that open the circuit breaker."""
    internal_breaker_reset_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """How long an open breaker fails calls fast before it lets one trial call through."""
    max_body_bytes: Annotated[int, Field(ge=1024)]
    """Largest accepted request body."""
    session_minutes: Annotated[int, Field(ge=1, le=1440)]
    """Lifetime of a dashboard session's access JWT; the refresh JWT renews it."""
    refresh_days: Annotated[int, Field(ge=1, le=90)]
    """Lifetime of a dashboard session's refresh JWT; the user logs in again after it."""
    public_rate_requests: Annotated[int, Field(ge=1, le=1_000_000)]
    """Requests one public-API key may make per window."""
    public_rate_window_seconds: Annotated[int, Field(ge=1, le=86_400)]
    """Length of the public API's fixed rate-limit window."""
    manage_check_seconds: Annotated[int, Field(ge=0, le=3600)]
    """How long Discord's answer to "may this user manage that guild" is trusted."""
    metrics_host: str = "127.0.0.1"
    """Address the Prometheus metrics listener binds (loopback: only this machine scrapes)."""
    metrics_port: Annotated[int, Field(ge=0, le=65_535)] = 9464
    """Port of the metrics listener (`GET /metrics`), apart from the public port; 0: none."""


class PipelineSettings(_Section):
    idle_timeout_seconds: PositiveSeconds
    """A message unacknowledged this long is taken over by another worker. Must exceed the
    pipeline's longest task, or a slow task is redelivered while it still runs."""
    max_attempts: Annotated[int, Field(ge=1, le=50)]
    """Attempts before a job goes to the dead-letter stream."""
    backoff_base_seconds: PositiveSeconds
    """Ceiling of the first retry delay; doubles each attempt, with equal jitter (each delay
    lies between half its ceiling and the ceiling)."""
    backoff_max_seconds: PositiveSeconds
    """Longest delay between attempts."""
    max_concurrent_tasks: Annotated[int, Field(ge=1, le=10_000)]
    """Tasks one worker process runs at once for this pipeline."""
    maxlen: Annotated[int, Field(ge=1000)]
    """Approximate cap on the stream's length."""


class TasksSettings(_Section):
    """The workers' settings, and one :class:`PipelineSettings` per pipeline, by its name.

    The pipelines are not written here: they are the enabled features' (`Feature.pipelines`)
    and the kernel's `jobs` (`townsquare.core.features.pipeline_names`); :func:`settings_model`
    adds one required field per pipeline, so a pipeline without settings, or settings for a
    pipeline no enabled feature runs, is an error naming it.
    """

    reclaim_interval_seconds: PositiveSeconds
    """How often an idle worker claims messages left pending by a dead worker."""
    dead_letter_maxlen: Annotated[int, Field(ge=100)]
    """Approximate cap on each dead-letter stream."""

    def pipeline(self, name: str) -> PipelineSettings:
        """The settings of pipeline `name`; a :class:`KeyError` when it is not a pipeline."""
        settings = getattr(self, name, None)
        if not isinstance(settings, PipelineSettings):
            raise KeyError(name)
        return settings

    def pipelines(self) -> dict[str, PipelineSettings]:
        """Every pipeline's settings, by name, in pipeline order."""
        return {name: value for name, value in self if isinstance(value, PipelineSettings)}


class ShardsSettings(_Section):
    shard_count: Annotated[int, Field(ge=0, le=100_000)]
    """Total shards of the bot; 0 asks Discord (GET /gateway/bot `shards`). Set it when
    several processes share the shards, so they all agree."""
    batch_size: Annotated[int, Field(ge=1, le=10_000)]
    """Most records in one stream entry (one batch)."""
    batch_ms: Annotated[int, Field(ge=1, le=60_000)]
    """Longest a record waits for its batch to fill before the batch is published anyway."""
    buffer_limit: Annotated[int, Field(ge=1, le=10_000_000)]
    """Records a shard process holds while Redis is unreachable; beyond it the oldest drop."""
    health_interval_seconds: Annotated[float, Field(gt=0, le=5)]
    """How often every shard writes its health hash (its TTL is the `shard_health` family's)."""


class AISettings(_Section):
    enabled: bool
    """Run the Gemini assistant at all."""
    model: str
    """Gemini model name."""
    gemini_api_key: SecretStr | None = None
    """Gemini API key (secret); needed when enabled."""
    timeout_seconds: PositiveSeconds
    """A model call slower than this gets the fallback message."""
    base_url: str = "https://generativelanguage.googleapis.com/"
    """Gemini's API root (without the version). Without an API key, against the sandbox, the
    sandbox's loopback Gemini is used instead."""
    max_prompt_tokens: Annotated[int, Field(ge=1000, le=1_000_000)] = 6000
    """Most tokens one question's prompt may hold (instructions, conversation, passages)."""
    embedding_model: str = "gemini-embedding-001"
    """The embedding model of the knowledge base's passages and the questions (768 values)."""
    embedding_timeout_seconds: PositiveSeconds = 3.0
    """Embedding a question slower than this (or than a quarter of `timeout_seconds`) leaves
    retrieval to full-text search alone."""


class StreamPlatformSettings(_Section):
    enabled: bool
    """Watch this platform at all."""
    client_id: str
    """The platform application's client id."""
    client_secret: SecretStr | None = None
    """Client secret or API key (secret); needed when enabled."""
    webhook_secret: SecretStr | None = None
    """Secret that signs incoming webhooks (secret); needed when enabled for Twitch/YouTube."""
    poll_interval_seconds: PositiveSeconds
    """Polling period where the platform has no webhooks."""
    api_url: str
    """The platform's API base (Twitch Helix, Kick's public API, YouTube Data API v3). Against
    the sandbox (no bot token) the loopback platform's is used instead."""
    auth_url: str
    """Where app tokens come from (Twitch and Kick's OAuth2 servers); YouTube: the WebSub hub."""


class AlertsSettings(_Section):
    twitch: StreamPlatformSettings
    kick: StreamPlatformSettings
    youtube: StreamPlatformSettings


class AlertingSettings(_Section):
    """Where alerts go besides the console (docs/alerts.md), and how often."""

    operator_webhook_url: SecretStr | None = None
    """Operators' Discord webhook URL (secret: it carries the webhook's token); none: console
    only, unless `operator_channel_id` is set."""
    operator_channel_id: Annotated[int, Field(ge=0)]
    """A channel the bot posts operator alerts in (when no webhook is set); 0: none."""
    window_seconds: Annotated[int, Field(ge=1, le=86_400)]
    """Repeats of one alert key within this window become one message with a count."""
    per_destination: Annotated[int, Field(ge=1, le=1000)]
    """Messages one destination (the operators, a guild) receives per `per_destination_seconds`
    at most; the rest wait in the outbox."""
    per_destination_seconds: Annotated[int, Field(ge=1, le=86_400)]
    """Length of the per-destination rate window."""
    batch: Annotated[int, Field(ge=1, le=1000)]
    """Alerts routed, windows closed and messages sent per delivery round at most."""
    deliver_interval_seconds: Annotated[int, Field(ge=1, le=3600)]
    """How often the scheduler queues a delivery round (`alerts.deliver` on `jobs`)."""


class MetricsSettings(_Section):
    """The Prometheus listeners of the processes other than HTTP (`http.metrics_port`)."""

    host: str
    """Address they bind (loopback: only this machine scrapes)."""
    shards_port: Annotated[int, Field(ge=0, le=65_535)]
    """A shard process's `/metrics`, `/healthz`, `/readyz`; 0: none."""
    worker_port: Annotated[int, Field(ge=0, le=65_535)]
    """A worker process's listener; 0: none. A second worker on one machine takes
    `--metrics-port`."""
    scheduler_port: Annotated[int, Field(ge=0, le=65_535)]
    """The scheduler's listener; 0: none."""


class BackupsSettings(_Section):
    """Scheduled backups, written by the active scheduler (docs/backups.md)."""

    enabled: bool = False
    """Whether the scheduler writes backups on its own."""
    interval_seconds: Annotated[int, Field(ge=60)] = 86_400
    """Time between scheduled backups."""
    directory: Path = Path("backups")
    """Where scheduled archives go; a relative path is inside `paths.var_dir`."""
    keep: Annotated[int, Field(ge=1, le=10_000)] = 7
    """Scheduled archives kept; older ones are deleted once a new one is complete."""


_ENVIRON: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("townsquare_environ")


class _ResolvedEnvSource(EnvSettingsSource):
    """The environment that :func:`load_settings` resolved (process env over `.env`)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get(os.environ)
        return {name.lower(): value for name, value in environ.items() if _is_ours(name)}


class Settings(BaseSettings):
    """The whole effective configuration of one Townsquare process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    paths: PathsSettings
    logging: LoggingSettings
    database: DatabaseSettings
    redis: RedisSettings
    discord: DiscordSettings
    sandbox: SandboxSettings
    http: HTTPSettings
    tasks: TasksSettings
    shards: ShardsSettings
    ai: AISettings
    alerts: AlertsSettings
    alerting: AlertingSettings
    metrics: MetricsSettings
    backups: BackupsSettings = BackupsSettings()
    """Scheduled backups (docs/backups.md)."""
    premium: PremiumSettings
    """Premium tiers, per-tier limit overrides, SKUs (docs/premium.md)."""
    guild_defaults: GuildConfig
    """Configuration a guild starts with; admins change their own copy in the dashboard.
    Its sections are the enabled features' (:func:`settings_model` fills them in)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest priority first: the environment merged over .env, then the merged YAML
        # files, passed in as init values by load_settings.
        return _ResolvedEnvSource(settings_cls), init_settings

    @property
    def uses_sandbox(self) -> bool:
        """Whether Discord is the loopback sandbox (no bot token configured)."""
        return self.discord.bot_token is None


class SettingsProblem(typing.NamedTuple):
    """One thing wrong with the configuration."""

    source: str
    """The file or environment variable the bad value came from."""
    key: str
    """Dotted key, e.g. `tasks.xp.max_attempts`."""
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.reason}"


class SettingsError(Exception):
    """The configuration is invalid; `problems` says where and why."""

    def __init__(self, problems: list[SettingsProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def load_settings(
    settings_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: Path | Literal["default"] | None = "default",
    defaults_file: Path = DEFAULTS_FILE,
) -> Settings:
    """Load and validate the settings, or raise :class:`SettingsError` listing every problem.

    `env_file`: "default" reads `.env` in the working directory, else the home's
    (:func:`default_env_file`); None reads none.
    """
    environ = dict(os.environ if environ is None else environ)
    if env_file == "default":
        env_file = default_env_file(environ)
    dotenv = _read_dotenv(env_file) if env_file is not None else {}
    if settings_file is None and environ.get(SETTINGS_FILE_ENV):
        settings_file = Path(environ[SETTINGS_FILE_ENV])
    if settings_file is None and dotenv.get(SETTINGS_FILE_ENV) and env_file is not None:
        # Relative to the .env file that names it, wherever the command runs.
        settings_file = env_file.parent / Path(dotenv[SETTINGS_FILE_ENV]).expanduser()
    if settings_file is None:
        settings_file = paths.user_settings_file(environ)

    problems: list[SettingsProblem] = []
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for path in (defaults_file, settings_file):
        if path is None:
            continue
        data = _read_yaml(path, problems)
        problems.extend(_secrets_in_file(path, data))
        _deep_merge(merged, data, origins, str(path))

    env = {**dotenv, **environ}
    problems.extend(_unknown_env_names(env))
    if problems:
        raise SettingsError(problems)

    try:
        settings = _build(merged, env)
    except ValidationError as error:
        raise SettingsError(_explain(error, env, origins, defaults_file)) from None
    problems = _missing_secrets(settings) + [
        SettingsProblem(_origin(key, origins, defaults_file), key, reason)
        for key, reason in settings_problems(settings.premium)
    ]
    if problems:
        raise SettingsError(problems)
    if not settings.paths.var_dir.is_absolute():
        var_dir = paths.home_dir(environ) / settings.paths.var_dir
        settings = settings.model_copy(
            update={"paths": settings.paths.model_copy(update={"var_dir": var_dir})}
        )
    return settings


def default_env_file(environ: Mapping[str, str] | None = None) -> Path:
    """The `.env` read by default: the working directory's if there is one, else the home's."""
    local = Path(".env")
    return local if local.is_file() else paths.home_dir(environ) / ".env"


_settings_models: dict[tuple[type[GuildConfig], tuple[str, ...]], type[Settings]] = {}


def settings_model() -> type[Settings]:
    """:class:`Settings` for the enabled features: `guild_defaults` has their config sections
    and `tasks` one :class:`PipelineSettings` per pipeline (theirs and the kernel's)."""
    from townsquare.core.features import guild_config_model, pipeline_names

    guild_config, pipelines = guild_config_model(), pipeline_names()
    model = _settings_models.get((guild_config, pipelines))
    if model is None:
        tasks: typing.Any = dict.fromkeys(pipelines, (PipelineSettings, ...))
        tasks_model = create_model(
            "TasksSettings",
            __base__=TasksSettings,
            __doc__=TasksSettings.__doc__,
            __module__=__name__,
            **tasks,
        )
        model = create_model(
            "Settings",
            __base__=Settings,
            __doc__=Settings.__doc__,
            __module__=__name__,
            tasks=(tasks_model, ...),
            guild_defaults=(guild_config, ...),
        )
        _settings_models[guild_config, pipelines] = model
    return model


def _origin(key: str, origins: Mapping[str, str], defaults: Path) -> str:
    """The file that set `key` (or its closest parent), else the defaults file."""
    parts = key.split(".")
    for depth in range(len(parts), 0, -1):
        if ".".join(parts[:depth]) in origins:
            return origins[".".join(parts[:depth])]
    return str(defaults)


def _build(merged: dict[str, Any], env: dict[str, str]) -> Settings:
    token = _ENVIRON.set(env)
    try:
        return settings_model()(**merged)
    finally:
        _ENVIRON.reset(token)


def _is_ours(name: str) -> bool:
    return name.upper().startswith(ENV_PREFIX)


def _read_yaml(path: Path, problems: list[SettingsProblem]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(SettingsProblem(str(path), "-", "file not found"))
        return {}
    except yaml.YAMLError as error:
        problems.append(SettingsProblem(str(path), "-", f"not valid YAML: {error}"))
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(SettingsProblem(str(path), "-", "must be a mapping of sections"))
        return {}
    return data


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def _deep_merge(
    into: dict[str, Any],
    data: Mapping[str, Any],
    origins: dict[str, str],
    source: str,
    prefix: str = "",
) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value, origins, source, f"{dotted}.")
        else:
            into[key] = value
        origins[dotted] = source


def _secret_paths(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = typing.get_args(annotation)
        if annotation is SecretStr or SecretStr in args:
            yield (*prefix, name)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _secret_paths(annotation, (*prefix, name))


SECRET_PATHS: tuple[tuple[str, ...], ...] = tuple(_secret_paths(Settings))


def _env_name(path: tuple[str | int, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in path)


def _secrets_in_file(path: Path, data: Mapping[str, Any]) -> list[SettingsProblem]:
    problems = []
    for secret in SECRET_PATHS:
        node: Any = data
        for part in secret:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            problems.append(
                SettingsProblem(
                    str(path),
                    ".".join(secret),
                    f"secrets are not read from files; set {_env_name(secret)} in the "
                    "environment or .env instead",
                )
            )
    return problems


def _known_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        yield path
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _known_paths(annotation, path)


def _unknown_env_names(env: Mapping[str, str]) -> list[SettingsProblem]:
    known = frozenset(_env_name(path) for path in _known_paths(settings_model()))
    return [
        SettingsProblem(name, ".".join(name[len(ENV_PREFIX) :].lower().split("__")), "unknown key")
        for name in sorted(env)
        if _is_ours(name) and name.upper() not in known
    ]


def _explain(
    error: ValidationError, env: Mapping[str, str], origins: Mapping[str, str], defaults: Path
) -> list[SettingsProblem]:
    upper_env = {name.upper() for name in env if _is_ours(name)}
    problems = []
    for detail in error.errors():
        loc = tuple(str(part) for part in detail["loc"])
        source = None
        for depth in range(len(loc), 0, -1):
            if _env_name(loc[:depth]) in upper_env:
                source = _env_name(loc[:depth])
                break
            if ".".join(loc[:depth]) in origins:
                source = origins[".".join(loc[:depth])]
                break
        reason = detail["msg"]
        if len(loc) == 2 and loc[0] == "tasks" and loc[1] not in TasksSettings.model_fields:
            reason = _pipeline_problem(loc[1], detail["type"]) or reason
        elif detail["type"] == "missing":
            reason = "missing: every key needs a value in the defaults file"
        elif detail["type"] == "extra_forbidden":
            reason = "unknown key"
        problems.append(SettingsProblem(source or str(defaults), ".".join(loc), reason))
    return problems


def _pipeline_problem(name: str, kind: str) -> str | None:
    """What is wrong with `tasks.<name>`, naming the pipelines, or None for another error."""
    from townsquare.core.features import pipeline_names, pipeline_users

    known = ", ".join(pipeline_names())
    if kind == "missing":
        return (
            f"missing pipeline: {' and '.join(pipeline_users(name))} run(s) tasks on pipeline "
            f"{name!r}, which needs its settings here (as the defaults file gives the others)"
        )
    if kind == "extra_forbidden":
        return (
            f"unknown pipeline {name!r}: no enabled feature runs tasks on it (pipelines: {known})"
        )
    return None


def _missing_secrets(settings: Settings) -> list[SettingsProblem]:
    needed: list[tuple[bool, tuple[str, ...], str]] = [
        (
            settings.discord.bot_token is not None,
            ("discord", "oauth_client_secret"),
            "a bot token is set, so the dashboard logs in with Discord's OAuth2",
        ),
        (
            settings.discord.bot_token is not None,
            ("http", "jwt_signing_key"),
            "a bot token is set, so dashboard sessions need a signing key from the environment",
        ),
        (
            settings.discord.bot_token is not None,
            ("http", "service_token"),
            "a bot token is set, so the shards authenticate to the internal API with it",
        ),
        (settings.ai.enabled, ("ai", "gemini_api_key"), "ai.enabled is true"),
    ]
    for platform in ("twitch", "kick", "youtube"):
        platform_settings: StreamPlatformSettings = getattr(settings.alerts, platform)
        if platform_settings.enabled:
            needed.append(
                (True, ("alerts", platform, "client_secret"), f"alerts.{platform}.enabled is true")
            )
            if platform != "kick":
                needed.append(
                    (
                        True,
                        ("alerts", platform, "webhook_secret"),
                        f"alerts.{platform}.enabled is true",
                    )
                )
    problems = []
    for required, path, why in needed:
        node: Any = settings
        for part in path:
            node = getattr(node, part)
        if required and node is None:
            problems.append(
                SettingsProblem(_env_name(path), ".".join(path), f"required because {why}")
            )
    return problems


_URL_PASSWORD = re.compile(r"(?P<head>[a-z+]+://[^:/@]*:)(?P<password>[^@/]*)(?P<tail>@)")


def redact_url(url: str) -> str:
    """`url` with any password replaced by `*****`."""
    return _URL_PASSWORD.sub(r"\g<head>*****\g<tail>", url)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, with every secret and URL password masked."""

    def mask(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "**********"
        if isinstance(value, dict):
            return {key: mask(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mask(item) for item in value]
        if isinstance(value, str):
            return redact_url(value)
        if isinstance(value, Path):
            return str(value)
        return value

    dumped: dict[str, Any] = mask(settings.model_dump(mode="python"))
    return dumped
