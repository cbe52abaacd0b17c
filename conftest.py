"""Fixtures shared by every app's tests: the two-office world with named personas."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import translation
from django_scopes import scopes_disabled

from rumbo.audit import triggers as audit_triggers
from rumbo.geo.loader import load_areas
from rumbo.geo.models import AdminArea
from rumbo.lib.testing.factories import PASSWORD, OfficeFactory, UserFactory, member
from rumbo.offices.models import Office, Role


@pytest.fixture(autouse=True)
def _unscoped_test_code(db: None) -> Iterator[None]:
    """Test set-up and assertions run unscoped; requests through the client are scoped by the middleware.

    Transactional tests (live server, schemathesis) end with Django emptying every table: that flush removed
    the reference data the migrations loaded, and the append-only triggers would refuse it. So the areas are
    loaded again and the triggers installed again before each test, and removed just before that flush.
    """
    # Test code starts in English whatever an earlier test's request activated (Django keeps the last
    # request's language active in the thread); requests negotiate their own language as in production.
    with scopes_disabled(), translation.override("en"):
        if not AdminArea.objects.exists():
            load_areas(AdminArea)
        if not audit_triggers.installed(connection):
            audit_triggers.install(connection)
        yield
    if not connection.in_atomic_block:
        # A transactional test: Django empties the tables next, which the triggers would refuse.
        audit_triggers.remove(connection)


@dataclass
class World:
    conofam: Office
    michoacan: Office
    jalisco: Office
    caseworker: Any  # OFAM Michoacán
    admin: Any  # OFAM Michoacán office admin
    auditor: Any  # OFAM Michoacán
    coordinator: Any  # CONOFAM
    trainer: Any  # OFAM Michoacán
    jalisco_caseworker: Any
    no_role: Any  # logged in, no membership

    def client_for(self, user: Any) -> Client:
        """A client logged in as ``user``, past the second factor when the user needs one (office admins)."""
        from rumbo.accounts.testing import login_verified

        return login_verified(Client(), user)


@pytest.fixture
def world(db: None) -> World:
    mich_state = AdminArea.objects.get(country="MX", level=1, code="16")
    jal_state = AdminArea.objects.get(country="MX", level=1, code="14")
    conofam = OfficeFactory(name="CONOFAM", code="conofam", kind=Office.Kind.CONOFAM)
    michoacan = OfficeFactory(name="OFAM Michoacán", code="ofam-mich", parent=conofam, location=mich_state)
    jalisco = OfficeFactory(name="OFAM Jalisco", code="ofam-jal", parent=conofam, location=jal_state)
    return World(
        conofam=conofam,
        michoacan=michoacan,
        jalisco=jalisco,
        caseworker=member(michoacan, Role.CASEWORKER, username="lucia"),
        admin=member(michoacan, Role.OFFICE_ADMIN, username="admin-mich"),
        auditor=member(michoacan, Role.AUDITOR, username="auditora"),
        coordinator=member(conofam, Role.COORDINATOR, username="coord"),
        trainer=member(michoacan, Role.TRAINER, username="trainer"),
        jalisco_caseworker=member(jalisco, Role.CASEWORKER, username="jorge"),
        no_role=UserFactory(username="nadie"),
    )


@pytest.fixture
def password() -> str:
    return PASSWORD
