"""Settings for the test suite: the real settings with fast hashing and plain static storage.

The database still comes from DATABASE_URL, so the same suite runs on SQLite and on PostgreSQL.
"""

from rumbo.settings import *  # noqa: F403
from rumbo.settings import INSTALLED_APPS, STORAGES, TASKS

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; production uses PBKDF2
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_AUTOREFRESH = True
SECURE_COOKIES = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = False

# Messaging: the development console channel is allowed; a second task backend "rq" (Redis through
# django-tasks-rq) is configured so the RQ tests can enqueue to the local Redis (database 15) explicitly.
RUMBO_MESSAGING_ALLOW_CONSOLE = True
# Webhook calls are applied before they are answered (the tests read the result at once; the deferred path
# has its own tests, which turn it on), and channels are looked up on every call.
RUMBO_MESSAGING_DEFERRED_INGEST = False
RUMBO_MESSAGING_WEBHOOK_CACHE_SECONDS = 0
if "django_rq" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_rq"]
RQ_QUEUES = {
    name: {"URL": "redis://127.0.0.1:6379/15", "DEFAULT_TIMEOUT": 600} for name in TASKS["default"]["QUEUES"]
}
TASKS = {**TASKS, "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": TASKS["default"]["QUEUES"]}}

# The SQLite test database lives in memory in shared-cache mode, where table locks are not covered by the
# busy timeout: a test reading the database while the live server's thread still writes (the browser tests)
# failed at once with "database table is locked". Readers that take no table read-locks avoid it; this only
# applies to shared-cache connections, so production's WAL file database is unaffected.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    _sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})  # noqa: F405
    _sqlite_options["init_command"] = _sqlite_options.get("init_command", "") + "PRAGMA read_uncommitted=1;"
