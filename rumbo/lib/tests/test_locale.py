"""Spanish first: Spanish unless the browser asks for English or the person chooses it with the switch."""

import pytest


@pytest.mark.django_db
def test_web_pages_are_spanish_when_the_browser_states_no_supported_language(client):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr-FR,de;q=0.8")
    assert '<html lang="es">' in response.content.decode()
    assert "Iniciar sesión" in response.content.decode()


@pytest.mark.django_db
def test_web_pages_are_spanish_without_accept_language(client):
    response = client.get("/accounts/login/")
    assert '<html lang="es">' in response.content.decode()


@pytest.mark.django_db
def test_the_language_switch_chooses_english(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="es-MX")
    assert '<html lang="en">' in page.content.decode()


@pytest.mark.django_db
def test_the_api_follows_accept_language(client):
    english = client.get("/api/v1/persons/", HTTP_ACCEPT_LANGUAGE="en").json()
    spanish = client.get("/api/v1/persons/", HTTP_ACCEPT_LANGUAGE="es").json()
    assert english["error"]["message"] != spanish["error"]["message"]
