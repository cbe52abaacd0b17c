"""Load the shipped administrative areas (see geo/data/SOURCES.md)."""

from django.db import migrations


def load(apps, schema_editor):
    from rumbo.geo.loader import load_areas

    load_areas(apps.get_model("geo", "AdminArea"))


class Migration(migrations.Migration):
    dependencies = [("geo", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
