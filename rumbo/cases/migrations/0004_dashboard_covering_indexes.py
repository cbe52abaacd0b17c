"""The office dashboard's counts read indexes alone (issue 5: ≤ 300 ms at 300,000 cases).

* Referrals: (office, status, sent_at, offering) replaces (office, status, sent_at) — the count of a period's
  referrals by status and offering no longer reads each referral row; lists by status use its first columns.
* Returns: (office, returned_on, point) replaces (office, returned_on), for the count by point of return.
* Needs: each need gets a copy of its case's office and opening time (filled here from the cases; kept equal
  by the services that write cases), and an (office, need, opened_at) index: the needs of the cases opened in
  a period are counted over one range of that index per need instead of one look-up per case.
"""

import django.db.models.deletion
from django.db import migrations, models


def fill_copies(apps, schema_editor):
    """Copy each case's office and opening time to its needs (one statement)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "UPDATE cases_caseneed AS n SET office_id = c.office_id, opened_at = c.opened_at"
            " FROM cases_case AS c WHERE c.id = n.case_id"
        )
        # The foreign key check is deferred to the end of the transaction: run it now, or PostgreSQL refuses
        # the ALTER TABLE that follows ("pending trigger events").
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    else:
        schema_editor.execute(
            "UPDATE cases_caseneed SET"
            " office_id = (SELECT c.office_id FROM cases_case AS c WHERE c.id = cases_caseneed.case_id),"
            " opened_at = (SELECT c.opened_at FROM cases_case AS c WHERE c.id = cases_caseneed.case_id)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("offices", "0001_initial"),
        ("cases", "0003_case_number_prefix_index"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="referral", name="cases_referral_office_status"),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                fields=["office", "status", "sent_at", "offering"], name="cases_referral_office_offering"
            ),
        ),
        migrations.RemoveIndex(model_name="returnevent", name="cases_return_office_date"),
        migrations.AddIndex(
            model_name="returnevent",
            index=models.Index(fields=["office", "returned_on", "point"], name="cases_return_office_point"),
        ),
        migrations.AddField(
            model_name="caseneed",
            name="office",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="offices.office",
                verbose_name="office",
            ),
        ),
        migrations.AddField(
            model_name="caseneed",
            name="opened_at",
            field=models.DateTimeField(editable=False, null=True, verbose_name="case opened"),
        ),
        migrations.RunPython(fill_copies, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="caseneed",
            name="office",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="offices.office",
                verbose_name="office",
            ),
        ),
        migrations.AlterField(
            model_name="caseneed",
            name="opened_at",
            field=models.DateTimeField(editable=False, verbose_name="case opened"),
        ),
        migrations.AddIndex(
            model_name="caseneed",
            index=models.Index(fields=["office", "need", "opened_at"], name="cases_need_office_need"),
        ),
    ]
