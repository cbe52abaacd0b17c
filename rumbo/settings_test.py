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
if "django_rq" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_rq"]
RQ_QUEUES = {
    name: {"URL": "redis://127.0.0.1:6379/15", "DEFAULT_TIMEOUT": 600} for name in TASKS["default"]["QUEUES"]
}
TASKS = {**TASKS, "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": TASKS["default"]["QUEUES"]}}
