"""Fixtures shared by every app's tests: the two-office world with named personas."""

from __future__ import annotations

import contextlib
import socket
import threading
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

# Set when this fixture removed the audit triggers for the flush that ends a transactional test.
_triggers_removed_for_flush = False


@pytest.fixture(autouse=True)
def _unscoped_test_code(db: None) -> Iterator[None]:
    """Test set-up and assertions run unscoped; requests through the client are scoped by the middleware.

    Transactional tests (live server, schemathesis) end with Django emptying every table: that flush removed
    the reference data the migrations loaded, and the append-only triggers would refuse it. So the areas are
    loaded again before each test, and the triggers removed just before that flush and installed again
    before the next test. Otherwise the triggers are only checked: the migrations must have installed them
    (the suite once hid a migration that dropped them on SQLite by installing them here).
    """
    global _triggers_removed_for_flush
    # Test code starts in English whatever an earlier test's request activated (Django keeps the last
    # request's language active in the thread); requests negotiate their own language as in production.
    with scopes_disabled(), translation.override("en"):
        if not AdminArea.objects.exists():
            load_areas(AdminArea)
        if _triggers_removed_for_flush:
            audit_triggers.install(connection)
            _triggers_removed_for_flush = False
        assert audit_triggers.installed(connection), "the migrations left the audit table without triggers"
        yield
    if not connection.in_atomic_block:
        # A transactional test: Django empties the tables next, which the triggers would refuse.
        audit_triggers.remove(connection)
        _triggers_removed_for_flush = True


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


# --- The live server of the browser and gateway tests ----------------------------------------------------


class _LateRequests:
    """Makes pytest-django's live server end cleanly when a request outlives a test.

    Django's server threads are daemons, not joined when the server stops, and a request thread waiting on a
    keep-alive connection (smsbox keeps its HTTP connection to Rumbo's webhook open; so may a browser) ends
    only when that client disconnects, after the session-scoped server stopped. It then closed "its"
    database connections:

    - on SQLite the tests' database lives in memory, so pytest-django hands the server the test process's
      own connection, shareable only while the server runs. Closing it afterwards raised "DatabaseWrapper
      objects created in a thread can only be used in that same thread" in that thread, reported by pytest
      as an unhandled-thread warning at the teardown of whichever test ran last (e.g. the outbox
      writer-thread test), and easily blamed on it. Closing a shared in-memory connection does nothing
      anyway (Django ignores it), so the request threads skip it; their own connections are still closed.
    - on PostgreSQL the thread's own connection stayed open until the client left, and dropping the test
      database failed ("is being accessed by other users").

    ``finish()``, at the end of the session, before the server stops: ends the open keep-alive connections
    (as a client would) and waits for their threads, which close their connections while that is allowed.
    """

    def __init__(self, server: Any) -> None:
        from django.db import connections

        httpd = server.thread.httpd
        self.lock = threading.Lock()
        self.active: dict[int, tuple[socket.socket, threading.Thread]] = {}
        shared: dict[str, Any] = dict(httpd.connections_override or {})
        serve = httpd.process_request_thread

        def process_request_thread(request: socket.socket, client_address: Any) -> None:
            with self.lock:
                self.active[id(request)] = (request, threading.current_thread())
            try:
                serve(request, client_address)
            finally:
                with self.lock:
                    self.active.pop(id(request), None)

        def close_own_connections() -> None:
            for conn in connections.all(initialized_only=True):
                if shared.get(conn.alias) is not conn:
                    conn.close()

        httpd.process_request_thread = process_request_thread
        httpd._close_connections = close_own_connections

    def finish(self, timeout: float = 10.0) -> None:
        with self.lock:
            pending = list(self.active.values())
        for request, _thread in pending:
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)
        for _request, thread in pending:
            thread.join(timeout)


@pytest.fixture(scope="session")
def live_server(live_server: Any) -> Iterator[Any]:
    """pytest-django's live server (the same one), ending cleanly when a request outlives a test."""
    late = _LateRequests(live_server)
    yield live_server
    late.finish()
