import pytest
from django.db import connection


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_a_well_formed_request_id_is_kept(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123-def-456"})
    assert response["X-Request-ID"] == "abc-123-def-456"


@pytest.mark.django_db
def test_a_malformed_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "x; DROP TABLE"})
    assert response["X-Request-ID"] != "x; DROP TABLE"


@pytest.mark.django_db
def test_sqlite_runs_with_foreign_keys_enforced():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite pragma")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys")
        assert cursor.fetchone()[0] == 1
