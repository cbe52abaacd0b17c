"""Install the append-only triggers again: on SQLite, 0006's AlterField rebuilt audit_auditevent and dropped
them without a word (PostgreSQL kept them; installing is idempotent there).

Going back leaves them in place: 0002 put them there and its own reverse removes them.
"""

from django.db import migrations

from rumbo.audit import triggers


def forwards(apps, schema_editor):
    triggers.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_fewer_indexes")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
