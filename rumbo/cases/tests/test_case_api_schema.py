"""The cases API against its own OpenAPI schema: a bounded, derandomised schemathesis run of the cases and
returns operations (positive and negative generated requests, then valid ones aimed at real records of the
own office, another office and a transferred case), in-process through the WSGI app, as in
``tests/schemathesis``. Checks: no server error, every status code documented, bodies and content types as
the schema says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rumbo.accounts.testing import api_token_key
from rumbo.cases.services import case_transfer_decide, case_transfer_request
from rumbo.cases.tests.casework_utils import make_family, open_case
from rumbo.people.tests.utils import make_person

MAX_EXAMPLES = 10
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = {
    "cases_list",
    "cases_create",
    "cases_retrieve",
    "cases_status",
    "persons_returns_list",
    "persons_returns_create",
    "return_points_list",
}


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Keep the test's connection (and transaction) across in-process requests (see tests/schemathesis)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def records(world: Any, in_process_requests: None) -> dict[str, Any]:
    family = make_family(world.caseworker, world.michoacan)
    case = open_case(world.caseworker, family.parent, members=family.children)
    pedro = make_person(world.jalisco_caseworker, world.jalisco, given_names="Pedro", documents=[], phones=[])
    jalisco_case = open_case(world.jalisco_caseworker, pedro)
    moving = make_person(world.caseworker, world.michoacan, given_names="Rosa", documents=[], phones=[])
    moved = open_case(world.caseworker, moving)
    transfer = case_transfer_request(
        actor=world.caseworker, case=moved, to_office=world.jalisco, reason="Moved"
    )
    case_transfer_decide(actor=world.jalisco_caseworker, transfer=transfer, accept=True)
    return {
        "caseworker": api_token_key(world.caseworker),
        "admin": api_token_key(world.admin),
        "ids": {
            "/api/v1/cases/": [case.pk, jalisco_case.pk, moved.pk],
            "/api/v1/persons/": [family.parent.pk, family.children[0].pk, pedro.pk],
        },
        "person": family.parent.pk,
    }


def _run(strategy: Any, headers: dict[str, str]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _aimed(operation: Any, records: dict[str, Any]) -> Any:
    strategies = [operation.as_strategy()]
    if "{id}" in operation.path:
        ids = next(ids for prefix, ids in records["ids"].items() if operation.path.startswith(prefix))
        strategies = [operation.as_strategy(path_parameters={"id": pk}) for pk in ids]

    def with_person(case: Any) -> Any:
        if isinstance(case.body, dict) and "person" in case.body:
            case.body["person"] = records["person"]
        return case

    return st.one_of(*strategies).map(with_person)


def test_cases_api_conforms_to_its_schema(
    records: dict[str, Any], subtests: Any, settings: Any, tmp_path: Any
):
    settings.DATA_DIR = tmp_path
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    mine = [op for op in operations if op.definition.raw["operationId"] in OPERATIONS]
    assert {op.definition.raw["operationId"] for op in mine} == OPERATIONS
    caseworker = {"Authorization": f"Token {records['caseworker']}"}
    admin = {"Authorization": f"Token {records['admin']}"}
    for operation in mine:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with subtests.test(operation=operation.label, mode=mode.value):
                _run(operation.as_strategy(generation_mode=mode), caseworker)
        for who, headers in (("caseworker", caseworker), ("admin", admin)):
            with subtests.test(operation=operation.label, mode="aimed", user=who):
                _run(_aimed(operation, records), headers)
