"""The API plumbing: error shape, unknown URLs, pagination envelope, schema and interactive docs."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management import call_command
from django.test import Client, override_settings
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory

from rumbo.lib.api import _flatten
from rumbo.lib.testing.api import assert_error

factory = APIRequestFactory()


@api_view(["GET"])
@permission_classes([AllowAny])
def _boom(request):
    raise RuntimeError("bug")


@api_view(["GET"])
@permission_classes([AllowAny])
def _service_error(request):
    raise DjangoValidationError({"phones.1.number": ["Bad phone."], "__all__": ["Bad person."]})


def test_nested_errors_are_dotted():
    detail = {"documents": [{}, {"number": ["Wrong."]}], "nationalities": {"0": ["No."]}, "email": ["Bad."]}
    assert _flatten(detail) == {
        "documents.1.number": ["Wrong."],
        "nationalities.0": ["No."],
        "email": ["Bad."],
    }


def test_service_validation_error_is_a_400_at_its_fields():
    response = _service_error(factory.get("/"))
    assert response.status_code == 400
    assert response.data == {
        "error": {
            "code": "invalid",
            "message": response.data["error"]["message"],
            "fields": {"phones.1.number": ["Bad phone."], "non_field_errors": ["Bad person."]},
        }
    }


def test_unexpected_error_is_a_json_500_without_details(caplog):
    response = _boom(factory.get("/"))
    assert response.status_code == 500
    assert response.data["error"]["code"] == "server_error"
    assert "bug" not in str(response.data)
    assert "Unhandled API error" in caplog.text


@override_settings(DEBUG=True)
def test_unexpected_error_is_raised_under_debug():
    with pytest.raises(RuntimeError):
        _boom(factory.get("/"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/api/v1/", "/api/v1/nothing/", "/api/v1/persons/abc/", "/api/v1/offices/1.5/", "/api/v1/offices"]
)
def test_unknown_api_url_is_a_json_404_even_for_anonymous(url):
    assert_error(Client().get(url), 404, "not_found")
    assert_error(Client().post(url), 404, "not_found")


@pytest.mark.django_db
def test_schema_is_public_and_names_every_operation():
    response = Client().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert operations == {
        "imports_list",
        "imports_create",
        "imports_retrieve",
        "imports_errors",
        "offices_list",
        "offices_retrieve",
        "areas_list",
        "areas_retrieve",
        "persons_list",
        "persons_create",
        "persons_retrieve",
        "persons_partial_update",
        "persons_anonymise",
        "persons_merge",
        "persons_merges_list",
        "merges_unmerge",
        "duplicates_list",
        "duplicates_retrieve",
        "duplicates_decide",
        "duplicates_decide_bulk",
        "match_requests_list",
        "match_requests_create",
        "match_requests_decide",
        "cases_create",
        "cases_list",
        "cases_retrieve",
        "cases_status",
        "messaging_channels_list",
        "messaging_channels_pause",
        "messaging_channels_resume",
        "messaging_inbound_list",
        "messaging_messages_create",
        "messaging_messages_list",
        "referrals_create",
        "referrals_list",
        "referrals_retrieve",
        "referrals_status",
        "return_points_list",
        "persons_returns_create",
        "persons_returns_list",
    }
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error"}
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3")


@pytest.mark.django_db
def test_interactive_docs_are_served_from_rumbo_itself():
    client = Client()
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "https://" not in html
    assert "<script>" not in html  # the start-up script is a separate file (CSP: no inline scripts)
    csp = page["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    script = client.get("/api/v1/docs/", {"script": ""})
    assert script.status_code == 200
    assert "/api/v1/schema/" in script.content.decode()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")  # shipped, collected
