"""Load the INM repatriation modules as points of return (geo/data/mx_repatriation_points.csv, provenance in
geo/data/SOURCES.md). Runs after the geo areas are loaded, so each point gets its municipality."""

from django.db import migrations


def load(apps, schema_editor):
    from rumbo.cases.services.returns import load_return_points

    load_return_points(apps.get_model("cases", "ReturnPoint"), apps.get_model("geo", "AdminArea"))


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial"), ("geo", "0002_load_areas")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
