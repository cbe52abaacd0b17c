import subprocess
import sys


def test_default_database_is_sqlite_in_wal_mode_in_the_data_folder(tmp_path):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='rumbo.settings'; django.setup();"
        "from django.conf import settings; from django.db import connection;"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode');"
        "print(settings.DATABASES['default']['NAME']); print(c.fetchone()[0]);"
        "c.execute('PRAGMA temp_store'); print(c.fetchone()[0]);"
        "print(settings.LANGUAGE_CODE, settings.TIME_ZONE, settings.DEBUG)"
    )
    env = {"RUMBO_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    name, mode, temp_store, rest = out.stdout.strip().splitlines()
    assert name == str(tmp_path / "rumbo.sqlite3")
    assert mode == "wal"
    assert temp_store == "2"  # temporary tables and statement journals in memory (see settings)
    assert rest == "es America/Mexico_City False"
    assert (tmp_path / "secret_key").exists()


def test_database_url_selects_postgresql(tmp_path):
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='rumbo.settings';"
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['ENGINE'], d['NAME'], d['HOST'])"
    )
    env = {
        "RUMBO_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u@db.example:5432/rumbo",
        "PATH": "/usr/bin",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["django.db.backends.postgresql", "rumbo", "db.example"]
