import pytest


@pytest.mark.django_db
def test_home_redirects_anonymous_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_home_lists_roles_of_caseworker(world):
    response = world.client_for(world.caseworker).get("/")
    assert response.status_code == 200
    assert "OFAM Michoacán" in response.content.decode()
