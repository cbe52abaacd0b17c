"""Settings for the test suite: the real settings with fast hashing and plain static storage.

The database still comes from DATABASE_URL, so the same suite runs on SQLite and on PostgreSQL.
"""

from rumbo.settings import *  # noqa: F403
from rumbo.settings import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; production uses PBKDF2
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_AUTOREFRESH = True
SECURE_COOKIES = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = False
