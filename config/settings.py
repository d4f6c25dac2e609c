"""Tally settings: every value comes from the environment (see .env.example)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from config.log_config import logging_dict

# Lets generic classes such as ModelAdmin[Model] be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Where the embedded defaults keep their files: the embedded PostgreSQL's data
# (`make run` without DATABASE_URL) and the filesystem broker's queues
# (without CELERY_BROKER_URL).
DATA_DIR = Path(env.str("TALLY_DATA_DIR", default=str(BASE_DIR / "var")))

# `make run` writes the embedded setup's settings here (DEBUG, a secret key,
# an encryption key on first run; the port and the embedded database's
# address on each run), so every `manage.py` command run beside it uses the
# same ones. The process environment always wins over the file.
if (DATA_DIR / ".env").is_file():
    env.read_env(str(DATA_DIR / ".env"))

DEBUG: bool = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY: str = env.str("SECRET_KEY", default="tally-development-only-secret-key")
else:
    SECRET_KEY = env.str("SECRET_KEY")
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters when DEBUG is off.")
    if SECRET_KEY.startswith("change-me"):
        raise ImproperlyConfigured("SECRET_KEY is still the example's placeholder: make a random one.")
    # Served over HTTPS behind the proxy: cookies only over HTTPS, and browsers told to stay there.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_CONTENT_TYPE_NOSNIFF = True

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Behind nginx: trust X-Forwarded-Proto for HTTPS detection, and use
# X-Forwarded-For for the client address only when told to (see webhooks.guards).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
TRUSTED_PROXY_COUNT: int = env.int("TRUSTED_PROXY_COUNT", default=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "common",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "webhooks",
    "results",
    "deliveries",
    "notifications",
    "progress",
    "crowdsourcing",
    "console",
]

MIDDLEWARE = [
    "common.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Webhook requests need no sessions, CSRF, users, messages, static files or
# frame options: they take this chain (config/wsgi.py); the rest MIDDLEWARE.
WEBHOOK_MIDDLEWARE = [
    "common.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
WEBHOOK_PATH_PREFIX = "/api/v1/webhooks/"

ROOT_URLCONF = "config.urls"
CSRF_FAILURE_VIEW = "common.api.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL only; `make run` starts an embedded one and records it in the data folder's .env.
DATABASE_URL: str = env.str("DATABASE_URL", default="")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. `make run` starts an embedded PostgreSQL and records it in var/.env; "
        "otherwise set DATABASE_URL=postgres://user:password@host:5432/tally."
    )
DATABASES = {"default": environ.Env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Tally runs on PostgreSQL only: DATABASE_URL must be a postgres:// URL.")
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# Off by default: a check is one more round trip at the start of every
# request. Without it, a connection the server dropped (a database restart)
# fails the one request that finds it (answered 503, retried by platforms)
# and is then replaced.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_HEALTH_CHECKS", default=False)
# An unreachable database host fails a request (or /readyz) in seconds, not minutes.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL: str = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tally"),
            # A Redis that drops packets must not hang requests.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Encryption at rest for source secrets and tokens (and later destination
# secrets). One or more Fernet keys, comma-separated, newest first: the first
# encrypts, all decrypt, so keys can be rotated.
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS is required when DEBUG is off "
        '(make one with: python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())").'
    )

# Intake.
WEBHOOK_MAX_BODY_BYTES: int = env.int("WEBHOOK_MAX_BODY_BYTES", default=262144)
WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS: int = env.int("WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS", default=300)
# How much of a rejected body is kept for operators.
WEBHOOK_REJECTED_BODY_KEEP_BYTES: int = env.int("WEBHOOK_REJECTED_BODY_KEEP_BYTES", default=8192)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(WEBHOOK_MAX_BODY_BYTES + 1, 2621440)
EVENT_RETENTION_DAYS: int = env.int("EVENT_RETENTION_DAYS", default=90)
# The admin's per-day intake counters are added up in memory and written at most this often.
INTAKE_COUNTER_FLUSH_SECONDS: float = env.float("INTAKE_COUNTER_FLUSH_SECONDS", default=1.0)
# Off: native completions take the ORM path (resets', PYBOSSA's) too, for diagnosis and comparison.
INTAKE_ONE_STATEMENT: bool = env.bool("INTAKE_ONE_STATEMENT", default=True)

# Deliveries.
DELIVERY_ALLOW_PRIVATE_NETWORKS: bool = env.bool("DELIVERY_ALLOW_PRIVATE_NETWORKS", default=DEBUG)
# Seconds after each failed attempt (±20 % jitter); the last value repeats.
DELIVERY_RETRY_SCHEDULE: list[int] = env.list(
    "DELIVERY_RETRY_SCHEDULE", cast=int, default=[5, 15, 30, 60, 300, 1800, 7200, 21600, 43200]
)
# The delivery task's time limits. It stops claiming after
# DELIVERY_TASK_MAX_SECONDS and each push ends within its destination's
# timeout (at most 60 s), so the soft limit (which cuts a task) stays unused
# in normal work (a push that would still run then is given less time, so
# its outcome is recorded first), and the hard limit (which kills the worker
# process) is the last resort.
DELIVERY_TASK_SOFT_TIME_LIMIT: int = env.int("DELIVERY_TASK_SOFT_TIME_LIMIT", default=110)
DELIVERY_TASK_TIME_LIMIT: int = env.int("DELIVERY_TASK_TIME_LIMIT", default=130)
# How long a claimed delivery stays a worker's: longer than the delivery
# task's hard time limit, so a lease never runs out under a live push (a
# claim is made after the task starts, and nothing of the task outlives the limit).
DELIVERY_LEASE_SECONDS: int = env.int("DELIVERY_LEASE_SECONDS", default=180)
DELIVERY_SWEEP_SECONDS: float = env.float("DELIVERY_SWEEP_SECONDS", default=5.0)
# Pushes one task sends at once (and so claims at once).
DELIVERY_CONCURRENCY: int = env.int("DELIVERY_CONCURRENCY", default=16)
# The share of one task's slots a single destination may hold at once.
DELIVERY_DESTINATION_SHARE: float = env.float("DELIVERY_DESTINATION_SHARE", default=0.5)
# A delivery task stops claiming after this long and leaves the rest to the next wake-up.
DELIVERY_TASK_MAX_SECONDS: int = env.int("DELIVERY_TASK_MAX_SECONDS", default=40)
DESTINATION_DISABLE_AFTER_HOURS: int = env.int("DESTINATION_DISABLE_AFTER_HOURS", default=120)
if not DELIVERY_TASK_MAX_SECONDS < DELIVERY_TASK_SOFT_TIME_LIMIT < DELIVERY_TASK_TIME_LIMIT < DELIVERY_LEASE_SECONDS:
    raise ImproperlyConfigured(
        "Delivery timing contradicts itself: it needs DELIVERY_TASK_MAX_SECONDS "
        f"({DELIVERY_TASK_MAX_SECONDS}) < DELIVERY_TASK_SOFT_TIME_LIMIT ({DELIVERY_TASK_SOFT_TIME_LIMIT}) "
        f"< DELIVERY_TASK_TIME_LIMIT ({DELIVERY_TASK_TIME_LIMIT}) < DELIVERY_LEASE_SECONDS "
        f"({DELIVERY_LEASE_SECONDS}), or a lease could run out under a live push."
    )
# History that grows without bound is pruned hourly: attempts, delivered and
# superseded deliveries (failed and dead ones stay), closed alerts.
ATTEMPT_RETENTION_DAYS: int = env.int("ATTEMPT_RETENTION_DAYS", default=30)
DELIVERY_RETENTION_DAYS: int = env.int("DELIVERY_RETENTION_DAYS", default=30)
# A push lists the user's latest this many results (newest first), with
# `results_count` and `results_complete`: a push's size and cost do not grow
# with the user's history. The read API has the rest.
DELIVERY_MAX_RESULTS: int = env.int("DELIVERY_MAX_RESULTS", default=100)
if not 0 <= DELIVERY_MAX_RESULTS <= 10_000:
    raise ImproperlyConfigured(f"DELIVERY_MAX_RESULTS must be between 0 and 10000, not {DELIVERY_MAX_RESULTS}.")

_RENDERERS = ["common.api.JsonRenderer"]
if DEBUG:
    _RENDERERS.append("rest_framework.renderers.BrowsableAPIRenderer")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": _RENDERERS,
    "DEFAULT_PARSER_CLASSES": ["common.api.JsonParser"],
    "EXCEPTION_HANDLER": "common.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tally API",
    "DESCRIPTION": (
        "Webhook intake, per-user summaries, destinations and deliveries. "
        "Authenticate with `Authorization: Bearer <token>` (a staff token, or a client token that reads "
        'only the sources its destination receives). Every error answers `{"error": <code>, "detail": ...}`.'
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI from the sidecar package: the docs page loads nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "PREPROCESSING_HOOKS": ["common.schema.api_paths_only"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.schema.error_responses",
    ],
    "WEBHOOKS": ["deliveries.schema.summary_push"],
    "ENUM_NAME_OVERRIDES": {
        "SourceKindEnum": "webhooks.models.Source.Kind",
        "EventStatusEnum": "webhooks.models.Event.Status",
        "DeliveryKindEnum": "deliveries.models.Delivery.Kind",
        "DeliveryStatusEnum": "deliveries.models.Delivery.Status",
    },
}

# Celery. Without CELERY_BROKER_URL the broker is a pair of folders, so the
# service runs with nothing but Python.
CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
# PYBOSSA's consensus work has a queue of its own: a slow PYBOSSA never holds up pushes.
CELERY_TASK_ROUTES = {"crowdsourcing.tasks.settle_task": {"queue": "pybossa"}}
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "prune-event-payloads": {"task": "webhooks.tasks.prune_event_payloads", "schedule": 3600.0},
    "process-waiting-events": {"task": "webhooks.tasks.sweep_waiting_events", "schedule": 60.0},
    "sweep-deliveries": {"task": "deliveries.tasks.sweep_deliveries", "schedule": DELIVERY_SWEEP_SECONDS},
    "flush-alerts": {"task": "notifications.tasks.flush_alerts", "schedule": 30.0},
    "prune-progress-jobs": {"task": "progress.tasks.prune_progress_jobs", "schedule": 600.0},
    "settle-stuck-pybossa-tasks": {"task": "crowdsourcing.tasks.settle_stuck_tasks", "schedule": 600.0},
    "prune-deliveries": {"task": "deliveries.tasks.prune_deliveries", "schedule": 3600.0},
    "prune-alerts": {"task": "notifications.tasks.prune_alerts", "schedule": 3600.0},
}

# Alerts (Telegram). Without a token alerts are stored and logged only.
TELEGRAM_BOT_TOKEN: str = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_CHAT_IDS: list[str] = env.list("TELEGRAM_CHAT_IDS", default=[])
TELEGRAM_API_BASE_URL: str = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org")
ALERT_THROTTLE_SECONDS: int = env.int("ALERT_THROTTLE_SECONDS", default=600)
ALERT_MAX_ATTEMPTS: int = env.int("ALERT_MAX_ATTEMPTS", default=20)
# Seconds before each new try of a Telegram message (no jitter); the last value repeats.
ALERT_RETRY_SCHEDULE: list[int] = env.list("ALERT_RETRY_SCHEDULE", cast=int, default=[10, 30, 60, 300, 900, 1800, 3600])
ALERT_RETENTION_DAYS: int = env.int("ALERT_RETENTION_DAYS", default=90)
# A delivery backlog older than this raises an alert.
ALERT_BACKLOG_SECONDS: int = env.int("ALERT_BACKLOG_SECONDS", default=300)
# This many failed pushes in a row to one destination raise an alert.
ALERT_DESTINATION_FAILURES: int = env.int("ALERT_DESTINATION_FAILURES", default=5)
# Where operators reach this Tally; alert links to the admin start with it.
# Without it, the address `make run` serves on: 127.0.0.1 and `PORT` (8000).
PORT: int = env.int("PORT", default=8000)
TALLY_BASE_URL: str = env.str("TALLY_BASE_URL", default=f"http://127.0.0.1:{PORT}")

# PYBOSSA sources: timeouts of each call, page size, and the retries of a task
# while PYBOSSA is unreachable (seconds before each try; then the event fails).
PYBOSSA_CONNECT_TIMEOUT_SECONDS: float = env.float("PYBOSSA_CONNECT_TIMEOUT_SECONDS", default=5.0)
PYBOSSA_TIMEOUT_SECONDS: float = env.float("PYBOSSA_TIMEOUT_SECONDS", default=20.0)
PYBOSSA_PAGE_SIZE: int = env.int("PYBOSSA_PAGE_SIZE", default=100)
PYBOSSA_RETRY_SCHEDULE: list[int] = env.list("PYBOSSA_RETRY_SCHEDULE", cast=int, default=[10, 30, 60, 300, 900, 1800])
# A settlement still `processing` this long after its webhook is queued again (beat, every 10 min).
PYBOSSA_STUCK_SECONDS: int = env.int("PYBOSSA_STUCK_SECONDS", default=3600)
# PYBOSSA's rate limit (300 requests per 15 min per endpoint and address): a worker waits in-process up to
# PYBOSSA_RATE_LIMIT_SLEEP_SECONDS for its window to reset, else requeues the settlement until X-RateLimit-Reset;
# no wait is longer than PYBOSSA_RATE_LIMIT_MAX_WAIT_SECONDS (a skewed clock, an absurd Reset header).
PYBOSSA_RATE_LIMIT_SLEEP_SECONDS: float = env.float("PYBOSSA_RATE_LIMIT_SLEEP_SECONDS", default=10.0)
PYBOSSA_RATE_LIMIT_MAX_WAIT_SECONDS: int = env.int("PYBOSSA_RATE_LIMIT_MAX_WAIT_SECONDS", default=3600)
# Modules whose callables a source may name as its analysis (saving one imports it).
PYBOSSA_ANALYSIS_MODULES: list[str] = env.list("PYBOSSA_ANALYSIS_MODULES", default=[])

# Progress jobs. A job is kept this long after its last activity unless its
# own maxage says otherwise; with a write token, create and update need token=.
PROGRESS_RETENTION_DAYS: int = env.int("PROGRESS_RETENTION_DAYS", default=7)
PROGRESS_WRITE_TOKEN: str = env.str("PROGRESS_WRITE_TOKEN", default="")
# How often the show page fetches new numbers, and how long a drawn PNG is reused.
PROGRESS_REFRESH_SECONDS: int = max(1, env.int("PROGRESS_REFRESH_SECONDS", default=2))
PROGRESS_RENDER_CACHE_SECONDS: int = env.int("PROGRESS_RENDER_CACHE_SECONDS", default=5)

# Operations: /readyz gives each check this long; /metrics asks for this
# bearer token when one is set.
READINESS_TIMEOUT_SECONDS: float = env.float("READINESS_TIMEOUT_SECONDS", default=2.0)
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
# The web and worker processes of one host write their metrics into this
# folder and /metrics adds them up (prometheus-client's multiprocess mode).
# prometheus-client reads the variable when first imported, so it is set
# here, before any module imports it.
PROMETHEUS_MULTIPROC_DIR: str = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(DATA_DIR / "metrics"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Files are named by host and process: containers sharing the folder each
# have their own pid 1, 7, ..., and must not write into one another's files.
from prometheus_client import values as _prometheus_values  # noqa: E402 - reads the variable above

_prometheus_values.ValueClass = _prometheus_values.MultiProcessValue(  # type: ignore[no-untyped-call]
    process_identifier=lambda: f"{socket.gethostname()}-{os.getpid()}"
)

LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")
# Celery's lines about each task run (sent by beat, received, succeeded); INFO shows them.
CELERY_TASK_LOG_LEVEL: str = env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")
# JSON lines on stderr for every process (web, workers, beat, the bot); config/log_config.py.
LOGGING_CONFIG = "common.logging.configure"
LOGGING = logging_dict(level=LOG_LEVEL, task_level=CELERY_TASK_LOG_LEVEL)
