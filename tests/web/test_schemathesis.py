"""The API against its own description: schemathesis sends generated requests to every operation.

For a staff member's token and a provider's, a bounded number of derandomized examples per operation (on
SQLite, in-process through WSGI): no answer may be a 5xx, and every answer must be one the description
documents, with the body, headers and content type it describes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from engine import clock
from engine.config import PROJECT_ROOT
from tasks import people
from tests.conftest import make_engine
from tests.procedures.conftest import application
from web import create_app

EXAMPLES = 20
# Bodies that their validators check beyond what a JSON Schema says (a full audit scores every module; the
# start form and a task's form check their fields, which the description leaves open): a schema-valid body
# may rightly get 400 there.
BEYOND_SCHEMA = [positive_data_acceptance]
EXCLUDED = {
    "sendAuditReport": BEYOND_SCHEMA,
    "start": BEYOND_SCHEMA,
    "completeTask": BEYOND_SCHEMA,
    # ``?status=`` (empty) lists every registration, where the description's enum has no empty value.
    "listRegistrations": [negative_data_rejection],
}
CALLERS = ("an.vlaio", "piet.andere")  # agency staff, and a provider (of another organisation than Acme)


@pytest.fixture(scope="module")
def served(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Flask, dict[str, str]]]:
    """The app on a database of its own, with one case, and a token per caller."""
    target = tmp_path_factory.mktemp("schemathesis") / "kmop.sqlite3"
    shutil.copyfile(sqlite_template, target)
    engine = make_engine(f"sqlite:///{target}")
    tokens: dict[str, str] = {}
    with engine.transaction() as db:
        engine.deploy(db, [PROJECT_ROOT / "bpmn"])
        now = clock.now()
        acme = people.create_organisation(db, "Acme Opleidingen BV", "provider", "0566988259")
        other = people.create_organisation(db, "Andere BV", "provider", "1000000021")
        vlaio = people.create_organisation(db, "VLAIO", "agency")
        for username, org, role in (("an.vlaio", vlaio, "vlaio"), ("piet.andere", other, "dienstverlener")):
            person = people.create_person(
                db,
                username=username,
                name=username,
                email=f"{username}@x.example",
                password="irrelevant-123",
                organisation=org,
                roles=(role,),
                now=now,
            )
            tokens[username] = people.issue_token(db, person, "schemathesis", now)
        assert acme is not None
        engine.start(db, "registration", application(), business_key="APP-S-000001", actor="test")
    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=engine)
    yield app, tokens
    engine.close()


def test_the_api_answers_as_it_is_described(served: tuple[Flask, dict[str, str]]) -> None:
    app, tokens = served
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # Described: any NUL answers 400. Query parameters the description does not name are ignored, as usual.
    schema.config.generation.update(allow_x00=False, allow_extra_parameters=False)
    failures: list[str] = []
    for found in schema.get_all_operations():
        assert isinstance(found, Ok), f"the description has an operation schemathesis cannot read: {found}"
        operation = found.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                examine(operation, mode, tokens)
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, all shown
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


def examine(operation: Any, mode: GenerationMode, tokens: dict[str, str]) -> None:
    """Send ``EXAMPLES`` generated requests to ``operation`` as each caller; raise what the checks find."""
    excluded = EXCLUDED.get(operation.definition.raw["operationId"], [])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        for username in CALLERS:
            headers = {"Authorization": f"Bearer {tokens[username]}"}
            case.call_and_validate(headers=headers, excluded_checks=excluded)

    run()
