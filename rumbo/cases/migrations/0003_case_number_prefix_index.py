"""PostgreSQL: an index that serves case-number prefix searches (``number LIKE 'OFAM-MICH-2026-00%'``).

The (office, number) unique index cannot serve LIKE under a database collation other than "C"; the
``varchar_pattern_ops`` operator class compares byte by byte, whatever the collation. SQLite compares text
bytewise already, so it needs nothing. (Not declared on the model: operator classes are PostgreSQL-only.)
"""

from django.db import migrations

INDEX = "cases_case_number_like"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON cases_case (number varchar_pattern_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_load_return_points")]
    operations = [migrations.RunPython(create, drop)]
