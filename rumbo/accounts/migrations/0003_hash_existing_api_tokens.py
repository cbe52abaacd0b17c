"""Move DRF's clear-text API tokens into accounts.ApiToken as SHA-256 digests, then delete them.

Existing tokens keep working: the same key hashes to the stored digest. Going back cannot restore the keys
(only their digests remain), so reversing leaves users without tokens: they create new ones.
"""

import hashlib

from django.db import migrations


def hash_clear_tokens(apps, schema_editor):
    db = schema_editor.connection.alias
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.using(db).bulk_create(
        [
            ApiToken(
                digest=hashlib.sha256(token.key.encode()).hexdigest(), user_id=token.user_id, created=token.created
            )
            for token in Token.objects.using(db).all()
        ]
    )
    Token.objects.using(db).all().delete()


def forget_digests(apps, schema_editor):
    apps.get_model("accounts", "ApiToken").objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_api_token_digests"),
        ("authtoken", "0002_auto_20160226_1747"),
    ]
    operations = [migrations.RunPython(hash_clear_tokens, forget_digests)]
