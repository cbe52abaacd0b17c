"""Database triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on audit events."""

from django.db import migrations

from rumbo.audit import triggers


def forwards(apps, schema_editor):
    triggers.install(schema_editor.connection)


def backwards(apps, schema_editor):
    triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
