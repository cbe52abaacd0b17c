"""Rumbo's one settings module. Everything that differs between machines comes from the environment.

Defaults give a working single-machine install: SQLite in ``./data`` (WAL mode), the database task queue
with Rumbo's own worker, Spanish UI, America/Mexico_City. Production sets ``DATABASE_URL`` (PostgreSQL),
``ALLOWED_HOSTS`` and, optionally, ``SECRET_KEY``.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from rumbo.lib.env import env_bool, env_int, env_list, env_str, secret_key_from

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(env_str("RUMBO_DATA_DIR", str(Path.cwd() / "data"))).resolve()

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = secret_key_from(DATA_DIR)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

AUTH_USER_MODEL = "accounts.User"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "django_htmx",
    "django_scopes",
    "rest_framework",
    # Only for its migrations: accounts/0002 hashed the clear-text tokens it held into accounts.ApiToken.
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_tasks",
    "django_tasks_db",
    # Rumbo's own apps, one per domain.
    "rumbo.audit",
    "rumbo.geo",
    "rumbo.offices",
    "rumbo.accounts",
    "rumbo.people",
    "rumbo.matching",
    "rumbo.imports",
    "rumbo.messaging",
    "rumbo.cases",
    "rumbo.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "rumbo.lib.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "rumbo.accounts.middleware.SessionIdleTimeoutMiddleware",
    "rumbo.accounts.middleware.TwoFactorRequiredMiddleware",
    "rumbo.offices.middleware.OfficeScopeMiddleware",
    # axes must be last: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "rumbo.urls"
WSGI_APPLICATION = "rumbo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "rumbo.offices.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DEFAULT_DATABASE_URL = f"sqlite:///{DATA_DIR / 'rumbo.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", DEFAULT_DATABASE_URL), conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Connections are kept between requests as on PostgreSQL: opening one costs a file open and the PRAGMAs
    # below, about 1 ms — most of a webhook call's time.
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; IMMEDIATE avoids lock upgrades that
        # fail with "database is locked" under concurrent writers. Temporary tables and statement journals
        # in memory: in a file, with SQLite's small temporary cache, they are written and read back page by
        # page (a bulk import's duplicate check read its key table back a million times; every multi-row
        # INSERT journals the pages it changes — four gigabytes of writes for 100,000 imported rows).
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=10000;"
            "PRAGMA foreign_keys=ON;PRAGMA cache_size=-65536;PRAGMA mmap_size=268435456;"
            "PRAGMA temp_store=MEMORY;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background work: the Django tasks API --------------------------------------------------------
# RUMBO_TASKS_BACKEND: "database" (default: django-tasks-db, in the same database; on PostgreSQL several
# workers on several machines share it), "rq" (Redis through django-tasks-rq, at RUMBO_REDIS_URL) or a
# backend's dotted path.
TASK_QUEUES = ["default", "messaging", "imports"]
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "db": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
_task_backend = env_str("RUMBO_TASKS_BACKEND", "database")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS.get(_task_backend, _task_backend), "QUEUES": TASK_QUEUES}}
RUMBO_REDIS_URL = env_str("RUMBO_REDIS_URL", "redis://127.0.0.1:6379/0")
# django-rq's queues (used only by the RQ backend): one Redis queue per task queue.
RQ_QUEUES = {name: {"URL": RUMBO_REDIS_URL, "DEFAULT_TIMEOUT": 3600} for name in TASK_QUEUES}
if TASKS["default"]["BACKEND"] == "django_tasks_rq.RQBackend":
    INSTALLED_APPS += ["django_rq"]

# --- Authentication and security ------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

AXES_FAILURE_LIMIT = env_int("RUMBO_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours: 15 minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# Idle sessions end after RUMBO_SESSION_IDLE_MINUTES; the cookie is refreshed on every request.
SESSION_IDLE_MINUTES = env_int("RUMBO_SESSION_IDLE_MINUTES", 30)
# The cookie outlives the idle limit (SessionIdleTimeoutMiddleware enforces that), so the server can still
# recognise an idle-expired session and tell the user why they have to log in again.
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60 + 12 * 3600
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_COOKIES = env_bool("RUMBO_SECURE_COOKIES", not DEBUG and not env_bool("RUMBO_LOCAL_HTTP", False))
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("RUMBO_BEHIND_PROXY") else None
# HTTPS only (HSTS): browsers refuse plain HTTP to this host for RUMBO_HSTS_SECONDS (default: one year when
# cookies are secure, i.e. in production; 0 = off), for its subdomains too unless
# RUMBO_HSTS_INCLUDE_SUBDOMAINS=false. The header goes out on HTTPS requests only: behind a proxy that ends
# TLS, set RUMBO_BEHIND_PROXY so Django recognises them. RUMBO_SSL_REDIRECT=true makes Django redirect plain
# HTTP to HTTPS; off by default, as the proxy usually does that.
SECURE_HSTS_SECONDS = env_int("RUMBO_HSTS_SECONDS", 365 * 24 * 3600 if SECURE_COOKIES else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("RUMBO_HSTS_INCLUDE_SUBDOMAINS", True) and SECURE_HSTS_SECONDS > 0
SECURE_SSL_REDIRECT = env_bool("RUMBO_SSL_REDIRECT", False)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

OTP_TOTP_ISSUER = "Rumbo"

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "es"
LANGUAGES = [("es", _("Spanish")), ("en", _("English"))]
LOCALE_PATHS = [Path(env_str("RUMBO_LOCALE_DIR", str(BASE_DIR / "locale")))]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "America/Mexico_City")
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = DATA_DIR / "media"  # never served by the web server: files go through permission-checked views

# --- API ------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Tokens are kept as SHA-256 digests (accounts.ApiToken), not DRF's clear-text authtoken table.
        "rumbo.accounts.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rumbo.lib.api.Pagination",
    "PAGE_SIZE": 25,
    "EXCEPTION_HANDLER": "rumbo.lib.api.exception_handler",
    "DEFAULT_VERSIONING_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rumbo API",
    "DESCRIPTION": "REST API of Rumbo. Every route is scoped to the offices of the authenticated user.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
}

# --- Logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Rumbo ----------------------------------------------------------------------------------------
RUMBO_SEARCH_PAGE_SIZE = 25
# Duplicate detection: a model trained with `rumbo train_matcher` (Splink JSON); empty = the bundled one.
RUMBO_MATCH_MODEL = env_str("RUMBO_MATCH_MODEL", "")
RUMBO_DEMO_PASSWORD = env_str("RUMBO_DEMO_PASSWORD", "rumbo-demo-2026")
# Case attachments: the largest file accepted (bytes); stored under DATA_DIR/attachments.
RUMBO_ATTACHMENT_MAX_BYTES = env_int("RUMBO_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
# Follow-up tasks created when a case opens, in months after the opening day (comma-separated).
RUMBO_FOLLOWUP_MONTHS = tuple(int(m) for m in env_list("RUMBO_FOLLOWUP_MONTHS", ["1", "3", "6"]))
# Person imports: the largest file (bytes); from this many rows, duplicates are checked in one pass at the
# end instead of chunk by chunk; on SQLite, the most memory (MiB) the importing process's page cache may take
# (taken only as the database's pages are read; a registry of 1,000,000 persons uses about all of it);
# validation processes (unset: one per CPU core; 0: none).
RUMBO_IMPORT_MAX_BYTES = env_int("RUMBO_IMPORT_MAX_BYTES", 20 * 1024 * 1024)
RUMBO_IMPORT_BATCH_MATCH_MIN_ROWS = env_int("RUMBO_IMPORT_BATCH_MATCH_MIN_ROWS", 5000)
RUMBO_IMPORT_SQLITE_CACHE_MIB = env_int("RUMBO_IMPORT_SQLITE_CACHE_MIB", 1024)
if env_str("RUMBO_IMPORT_WORKERS"):
    RUMBO_IMPORT_WORKERS = env_int("RUMBO_IMPORT_WORKERS", 0)

# --- Email: Django's SMTP backend (task reminders, email channels without their own SMTP settings) -----
# The email channels of the messaging app carry their own SMTP credentials (encrypted, per office); these
# settings are the server's own mail. `bin/demo` writes mail to files instead (EMAIL_BACKEND below).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Rumbo <rumbo@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# --- Messaging ------------------------------------------------------------------------------------
# Keys that encrypt channel credentials at rest (comma-separated Fernet keys; the first encrypts, all
# decrypt).
# Unset, a key is derived from SECRET_KEY: fine on one development machine, NOT in production (see
# rumbo/messaging/crypto.py).
RUMBO_CREDENTIALS_KEYS = env_list("RUMBO_CREDENTIALS_KEYS", [])
RUMBO_MESSAGING_BATCH_SIZE = env_int("RUMBO_MESSAGING_BATCH_SIZE", 500)  # messages per sending task
RUMBO_MESSAGING_LEASE_SECONDS = env_int("RUMBO_MESSAGING_LEASE_SECONDS", 120)  # a dead worker's claim ends
RUMBO_MESSAGING_MAX_ATTEMPTS = env_int("RUMBO_MESSAGING_MAX_ATTEMPTS", 6)
RUMBO_MESSAGING_RETRY_SECONDS = env_int("RUMBO_MESSAGING_RETRY_SECONDS", 30)  # first retry; doubles each time
RUMBO_MESSAGING_RETRY_MAX_SECONDS = env_int("RUMBO_MESSAGING_RETRY_MAX_SECONDS", 3600)
RUMBO_MESSAGING_SWEEP_SECONDS = env_int("RUMBO_MESSAGING_SWEEP_SECONDS", 30)  # `rumbo worker` re-enqueues
# PostgreSQL: mark "sent" with synchronous_commit off (survives a worker crash, not a database server crash).
RUMBO_MESSAGING_ASYNC_COMMIT = env_bool("RUMBO_MESSAGING_ASYNC_COMMIT", True)
# The console/file channel writes messages to a file instead of sending them: development only.
RUMBO_MESSAGING_ALLOW_CONSOLE = env_bool("RUMBO_MESSAGING_ALLOW_CONSOLE", DEBUG)
RUMBO_MESSAGING_OPT_OUT_WORDS = env_list("RUMBO_MESSAGING_OPT_OUT_WORDS", ["BAJA", "ALTO", "STOP"])
# Webhooks store each call in one insert and a worker applies the calls in batches (messaging/webhooks.py);
# off, each call is applied before it is answered.
RUMBO_MESSAGING_DEFERRED_INGEST = env_bool("RUMBO_MESSAGING_DEFERRED_INGEST", True)
RUMBO_MESSAGING_WEBHOOK_CACHE_SECONDS = env_int("RUMBO_MESSAGING_WEBHOOK_CACHE_SECONDS", 10)
# Webhook calls that could not be applied are set aside for inspection (senders' numbers and texts): the sweep
# deletes them after this many days.
RUMBO_MESSAGING_SET_ASIDE_DAYS = env_int("RUMBO_MESSAGING_SET_ASIDE_DAYS", 30)

# --- API schema: names of enums that share a field name ("kind") in several components ---------------
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "OfficeKindEnum": "rumbo.offices.models.Office.Kind",
    "DocumentKindEnum": "rumbo.people.models.DocumentKind",
    "PhoneKindEnum": "rumbo.people.models.Phone.Kind",
    "PairDecisionEnum": "rumbo.matching.models.DuplicatePair.Decision",
    "PairVerdictEnum": "rumbo.matching.api.DECISION_CHOICES",
    "PairSourceEnum": "rumbo.matching.models.DuplicatePair.Source",
    "MatchRequestKindEnum": "rumbo.matching.models.AccessRequest.Kind",
    "MatchRequestStatusEnum": "rumbo.matching.models.AccessRequest.Status",
    "ChannelKindEnum": "rumbo.messaging.models.ChannelKind",
    "MessageStatusEnum": "rumbo.messaging.models.MessageStatus",
    "InboundKindEnum": "rumbo.messaging.models.InboundKind",
    "CaseStatusEnum": "rumbo.cases.models.CaseStatus",
    "ReferralStatusEnum": "rumbo.cases.models.ReferralStatus",
}
# Interactive API docs (/api/v1/docs/) from Rumbo's own static files: the CSP forbids CDNs.
INSTALLED_APPS += ["drf_spectacular_sidecar"]
SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"] = "SIDECAR"
SPECTACULAR_SETTINGS["SWAGGER_UI_FAVICON_HREF"] = "SIDECAR"
