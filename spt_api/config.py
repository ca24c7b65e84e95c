"""The one typed settings object of spt-api.

Every setting is read from an ``SPT_API_*`` environment variable (the Helm chart
sets the same names); ``PORT`` and ``WORKERS`` are honoured as well because
platforms such as Heroku and Okteto set them.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, TypeGuard

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "origin_name"]


class Settings(BaseSettings):
    """spt-api configuration; each field is the env var ``SPT_API_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SPT_API_", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", title="Address the API server binds to")
    port: int = Field(
        8080,
        title="Port the API server listens on",
        validation_alias=AliasChoices("SPT_API_PORT", "PORT", "port"),
        ge=0,
        le=65535,
    )
    workers: int = Field(
        1,
        title="Number of API server processes",
        validation_alias=AliasChoices("SPT_API_WORKERS", "WORKERS", "workers"),
        ge=1,
    )
    base_path: str = Field("/api", title="URL prefix of the API")
    data_dir: Path = Field(Path("./var"), title="Directory for the embedded database and result files")
    webapp_dir: Path = Field(
        Path("webapp/dist"),
        title="Directory of the built web app (`npm run build` in webapp/), served at /app/cutout; "
        "when it holds no index.html, /app/cutout answers 404 saying so",
    )
    database_url: str = Field(
        "", title="SQLAlchemy URL of the job store (sqlite:///… or postgresql://…); empty: SQLite in data_dir"
    )
    broker_url: str = Field(
        "memory://", title="memory:// for the embedded process pool, or a Celery broker (redis://, amqp://)"
    )
    result_backend_url: str = Field("", title="Celery result backend; empty: none (the job store is the truth)")
    redis_url: str = Field(
        "",
        title="Redis URL for live job events; empty: the broker's Redis when the broker is redis://, "
        "else in-process events (embedded mode; an amqp:// broker needs this set)",
    )
    storage_url: str = Field(
        "", title="Where results are stored: file:///dir or s3://bucket/prefix; empty: data_dir/results"
    )
    input_shared_prefixes: str = Field(
        "",
        title="Comma-separated key prefixes in the store (datasets/, shared/truth) whose objects any user may name "
        "as a job's input file; never under inputs/ (each job's uploads); empty: none, only a user's own uploads",
    )
    input_url_prefixes: str = Field(
        "",
        title="Comma-separated URL prefixes (s3://bucket/prefix/) a job's input file may be named by; the workers "
        "read them with their own S3 credentials, so list only what every user may read; empty: none",
    )
    s3_endpoint_url: str = Field("", title="S3 endpoint URL (MinIO, SeaweedFS, Ceph); empty: AWS")
    s3_region: str = Field("us-east-1", title="S3 region")
    s3_access_key_id: str = Field("", title="S3 access key id; empty: boto3's default credential chain")
    s3_secret_access_key: SecretStr = Field(SecretStr(""), title="S3 secret access key")
    s3_multipart_threshold_mb: int = Field(16, title="Result size above which uploads are multipart (MiB)")
    result_url_lifetime: int = Field(3600, title="Lifetime of signed result URLs (seconds)", ge=1)
    inline_result_max: int = Field(
        4096,
        title="Largest result a worker keeps in the job's own record rather than in the result storage "
        "(bytes; served by the API itself, never by a signed URL); 0: every result goes to the storage",
        ge=0,
        le=64 * 1024,
    )
    embedded_pool_size: int = Field(2, title="Worker processes of the embedded executor", ge=1)
    max_body_size: int = Field(10 * 1024 * 1024, title="Largest accepted request body (bytes)", ge=1024)
    max_header_size: int = Field(
        64 * 1024,
        title="Longest request URL, and largest header block, answered (bytes; above: 414 or 431)",
        ge=4096,
    )
    wait_max: int = Field(60, title="Longest a WAIT request blocks (seconds); WAIT=-1 means this", ge=1)
    ws_queue_size: int = Field(
        64,
        title="Job changes held for a WebSocket client that has not yet read them; one more closes its socket "
        "(4408), so a client too slow to read never grows the server's memory",
        ge=1,
    )
    default_execution_duration: int = Field(600, title="executionDuration of a new job (seconds)", ge=0)
    max_execution_duration: int = Field(3600, title="Largest executionDuration a client may set (seconds)", ge=1)
    default_lifetime: int = Field(
        7 * 24 * 3600, title="Time from creation to destruction of a new job (seconds)", ge=60
    )
    max_lifetime: int = Field(30 * 24 * 3600, title="Latest destruction a client may set, from now (seconds)")
    job_cache_ttl: float = Field(
        1.0, title="Seconds a job read by the API may be served from memory (each change drops it; 0: off)", ge=0
    )
    fan_out_chunk: int = Field(
        500, title="Work items (e.g. cutout positions) per child job when a large job is split across workers", ge=1
    )
    list_max: int = Field(1000, title="Most jobs returned by one job-list request", ge=1)
    heartbeat_interval: int = Field(10, title="Seconds between worker heartbeats", ge=1)
    start_event_hold: float = Field(
        0.02,
        title="Seconds a worker may hold a job's EXECUTING event: a job that ends sooner announces its start and "
        "end together, so its WAITs wake once (0: announce at once)",
        ge=0,
        le=1,
    )
    heartbeat_timeout: int = Field(60, title="A job whose worker is silent this long is reconciled (seconds)")
    worker_capabilities: str = Field(
        "",
        title="Comma-separated capabilities a worker advertises (cpu, onnx, gpu, cuda...); empty: detected",
    )
    reconcile_interval: int = Field(30, title="Seconds between reconciler passes in the API process (0: off)")
    max_attempts: int = Field(3, title="Times a job is started before it ends in ERROR", ge=1)
    auth_enabled: bool = Field(
        False, title="Require Keycloak authentication (bearer tokens, browser login); off: every job owned by no one"
    )
    keycloak_url: str = Field("", title="Keycloak base URL (https://auth.example.org; /realms/<realm> is appended)")
    keycloak_realm: str = Field("spt", title="Keycloak realm")
    keycloak_client_id: str = Field(
        "spt-api", title="Keycloak client id of the API (a confidential client: the browser login)"
    )
    keycloak_client_secret: SecretStr = Field(SecretStr(""), title="Keycloak client secret")
    keycloak_audience: str = Field(
        "", title="Audience an access token must name (its aud claim); empty: the client id"
    )
    keycloak_jwks_min_refresh: float = Field(
        10.0,
        title="Least seconds between two fetches of the realm's keys forced by tokens signed with an unknown key",
        ge=0,
    )
    auth_user_role: str = Field("spt-user", title="Realm role a user needs to use the API")
    auth_admin_role: str = Field("spt-admin", title="Realm role that sees and may change every user's jobs")
    auth_leeway: int = Field(30, title="Clock skew allowed when checking a token's exp and nbf (seconds)", ge=0, le=300)
    session_secret: SecretStr = Field(
        SecretStr(""),
        title="Secret (32+ characters) that encrypts the browser session cookie and signs the XSRF token; "
        "the same on every API process; required with auth on",
    )
    session_lifetime: int = Field(8 * 3600, title="Lifetime of a browser login session (seconds)", ge=60)
    session_recheck: int = Field(
        300,
        title="Seconds after which a browser session is confirmed with Keycloak again (a refresh: a logout "
        "elsewhere, a disabled account or a removed role then ends it; 0: every request)",
        ge=0,
    )
    services: str = Field(
        "", title="Comma-separated services to serve and run (e.g. cutout,inference); empty: every installed one"
    )
    service_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        title="In-process overrides of services' own settings, by service (tests, notebooks); "
        "deployments set SPT_API_<SERVICE>_* instead",
    )
    sync_timeout: float = Field(
        60, title="Longest a DALI sync request waits for its job (seconds); then 303 to the job, which runs on", gt=0
    )
    sync_max: int = Field(16, title="DALI sync requests waiting on their jobs at once; more get 429", ge=1)
    allowed_hosts: str = Field(
        "",
        title="Comma-separated host names the API answers to (the Host header, port ignored; '.example.org' "
        "also allows its subdomains; '*' allows any); empty: the listen address, localhost and 127.0.0.1",
    )
    cors_origins: str = Field(
        "",
        title="Comma-separated origins (https://app.example.org) allowed to call the API from a browser (CORS); "
        "a cross-site POST, PUT or DELETE from any other origin is refused (403); empty: none",
    )
    log_level: str = Field("INFO", title="Log level")
    log_json: bool = Field(False, title="Write logs as JSON lines")
    metrics_enabled: bool = Field(True, title="Serve Prometheus metrics at /metrics")
    loop_lag_interval: float = Field(
        0.5, title="Seconds between samples of the event loop's lag (spt_event_loop_lag_seconds; 0: off)", ge=0
    )
    slow_callback_seconds: float = Field(
        0.1, title="A handler holding the event loop longer than this at once is logged as a warning (seconds)", gt=0
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'jobs.sqlite').resolve()}"

    @property
    def effective_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return (self.data_dir / "results").resolve().as_uri()

    @property
    def effective_redis_url(self) -> str:
        """Where job events travel: ``redis_url``, else a ``redis://`` broker's Redis, else nowhere ("").

        The one place that decides it, for the API's event bus and the workers' publisher alike: a
        deployment that names only a Redis broker must not have its workers' events go nowhere (every
        WAIT would then wake on its periodic re-read instead of the change).
        """
        if self.redis_url:
            return self.redis_url
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return ""

    @property
    def events_problem(self) -> str | None:
        """Why workers' job events could not reach the API under these settings, or None.

        A Celery broker that is not Redis (amqp://) carries no events: without ``SPT_API_REDIS_URL``
        the workers' phase changes would never wake a WAIT. ``spt-api serve`` and ``spt-api worker``
        refuse to start on it rather than degrade silently.
        """
        if self.is_embedded_queue or self.effective_redis_url:
            return None
        scheme = self.broker_url.split("://", 1)[0]
        return (
            f"SPT_API_BROKER_URL is {scheme}://, which carries no job events, and SPT_API_REDIS_URL is empty: "
            "set SPT_API_REDIS_URL=redis://… so the workers' job events reach the API"
        )

    @property
    def enabled_services(self) -> list[str]:
        return _comma_list(self.services)

    # Read by every request (Host and Origin checks): parsed once per settings object, not per request.
    @cached_property
    def allowed_host_names(self) -> frozenset[str]:
        """Lower-cased names of ``allowed_hosts`` (or its defaults); ``*`` means any."""
        names = {name.lower() for name in _comma_list(self.allowed_hosts)}
        if not names:
            names = {self.host.lower(), "localhost", "127.0.0.1", "::1"}
        return frozenset(name[1:-1] if name.startswith("[") and name.endswith("]") else name for name in names)

    @cached_property
    def cors_origin_names(self) -> frozenset[str]:
        return frozenset(origin_name(origin) for origin in _comma_list(self.cors_origins))

    def trusts_origin(self, origin: str | None) -> TypeGuard[str]:
        """Whether a browser's ``Origin`` is one of ``cors_origins`` (so a string): the CORS headers, the
        preflight, the cross-site POST check and the WebSocket handshake all ask this."""
        return bool(origin) and origin_name(origin or "") in self.cors_origin_names

    @field_validator("input_shared_prefixes")
    @classmethod
    def _shared_prefixes_outside_uploads(cls, value: str) -> str:
        # inputs/<job id>/ holds each job's uploads, readable by that job's owner alone: a shared prefix
        # there would hand every user's uploads to everyone. "" would share the whole store (results too).
        for prefix in _comma_list(value):
            parts = prefix.strip("/").split("/")
            if parts[0] in ("", "inputs") or any(part in (".", "..") for part in parts):
                raise ValueError(
                    f"SPT_API_INPUT_SHARED_PREFIXES: {prefix!r} is not a shared prefix (a folder of the store "
                    "outside inputs/, e.g. datasets/)"
                )
        return value

    @cached_property
    def input_shared_prefix_list(self) -> tuple[str, ...]:
        """``input_shared_prefixes`` as folders (``datasets/``): a prefix never matches half a name."""
        return tuple(_folder(prefix.lstrip("/")) for prefix in _comma_list(self.input_shared_prefixes))

    @cached_property
    def input_url_prefix_list(self) -> tuple[str, ...]:
        """``input_url_prefixes`` as folders (``s3://bucket/data/``), scheme and bucket lower-cased."""
        return tuple(_folder(_url_folder(prefix)) for prefix in _comma_list(self.input_url_prefixes))

    @property
    def effective_keycloak_audience(self) -> str:
        return self.keycloak_audience or self.keycloak_client_id

    @property
    def auth_problem(self) -> str | None:
        """Why authentication cannot work under these settings (auth on), or None."""
        if not self.auth_enabled:
            return None
        if not self.keycloak_url:
            return "SPT_API_AUTH_ENABLED=true needs SPT_API_KEYCLOAK_URL (the Keycloak base URL)"
        if len(self.session_secret.get_secret_value()) < 32:
            return (
                "SPT_API_AUTH_ENABLED=true needs SPT_API_SESSION_SECRET, at least 32 characters "
                "(it encrypts the browser session cookie; the same on every API process)"
            )
        return None

    @property
    def is_embedded_queue(self) -> bool:
        return self.broker_url.startswith("memory://")


def origin_name(origin: str) -> str:
    """An origin as compared: ``HTTPS://App.example.org/`` is ``https://app.example.org``."""
    return origin.strip().rstrip("/").lower()


def _comma_list(text: str) -> list[str]:
    """The items of a comma-separated setting, stripped, empty ones dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _folder(prefix: str) -> str:
    """``prefix`` ending in one ``/``: ``s3://b/data`` allows ``s3://b/data/x``, not ``s3://b/database``."""
    return prefix.rstrip("/") + "/"


def _url_folder(prefix: str) -> str:
    scheme, sep, rest = prefix.partition("://")
    if not sep:
        return prefix
    bucket, _, path = rest.partition("/")
    return f"{scheme.lower()}://{bucket.lower()}/{path}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
