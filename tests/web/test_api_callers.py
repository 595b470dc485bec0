"""Verified API tokens kept for a few seconds (web.api.callers): never past a change in this process."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text

from engine import clock
from engine.api import Engine
from tasks import people
from tasks.models import Person
from web import create_app

API = "/api/v1"


def token_of(engine: Engine, username: str) -> str:
    with engine.transaction() as db:
        person = db.query(Person).filter_by(username=username).one()
        return people.issue_token(db, person, "callers", clock.now())


def cases(client: FlaskClient, token: str) -> int:
    return client.get(f"{API}/cases", headers={"Authorization": f"Bearer {token}"}).status_code


def revoke_behind_the_orms_back(engine: Engine, username: str) -> None:
    """As another process would: a statement this process's ORM does not see."""
    with engine.transaction() as db:
        db.execute(
            text("DELETE FROM api_token WHERE person_id = (SELECT id FROM person WHERE username = :u)"),
            {"u": username},
        )


class Lookups:
    """Counts the statements that read the api_token table."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine.db, "before_cursor_execute", self._statement)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "api_token" in statement:
            self.count += 1


@pytest.fixture
def moment(app: Flask) -> list[float]:
    """The cache's clock, moved on by hand."""
    now = [1000.0]
    app.config["KMOP_API_CACHE_CLOCK"] = lambda: now[0]
    return now


def test_a_kept_caller_is_not_looked_up_again(app: Flask, client: FlaskClient, engine: Engine) -> None:
    token = token_of(engine, "auditor.dnv")
    assert cases(client, token) == 200
    lookups = Lookups(engine)
    for _ in range(3):
        assert cases(client, token) == 200
    assert lookups.count == 0


def test_a_token_revoked_in_this_process_is_refused_at_once(client: FlaskClient, engine: Engine) -> None:
    token = token_of(engine, "auditor.dnv")
    other = token_of(engine, "an.vlaio")
    assert cases(client, token) == 200 and cases(client, other) == 200
    with engine.transaction() as db:
        person = db.query(Person).filter_by(username="auditor.dnv").one()
        assert people.revoke_tokens(db, person) == 1
    assert cases(client, token) == 401
    assert cases(client, other) == 200  # looked up again, still valid


def test_a_role_withdrawn_or_a_person_blocked_takes_effect_at_once(
    client: FlaskClient, engine: Engine
) -> None:
    with engine.transaction() as db:
        admin = db.query(Person).filter_by(username="admin.acme").one()
        jan = db.query(Person).filter_by(username="jan.acme").one()
        people.grant_provider_profile(db, admin, jan, clock.now())
    token = token_of(engine, "jan.acme")
    headers = {"Authorization": f"Bearer {token}"}
    start = f"{API}/processes/registration/instances"
    assert client.post(start, json={"data": {}}, headers=headers).status_code != 403
    with engine.transaction() as db:
        admin = db.query(Person).filter_by(username="admin.acme").one()
        jan = db.query(Person).filter_by(username="jan.acme").one()
        people.revoke_provider_profile(db, admin, jan)
    assert client.post(start, json={"data": {}}, headers=headers).status_code == 403
    with engine.transaction() as db:
        db.query(Person).filter_by(username="jan.acme").one().active = False
    assert cases(client, token) == 401


def test_a_change_outside_this_process_counts_once_the_lifetime_is_over(
    app: Flask, client: FlaskClient, engine: Engine, moment: list[float]
) -> None:
    token = token_of(engine, "auditor.dnv")
    assert cases(client, token) == 200
    revoke_behind_the_orms_back(engine, "auditor.dnv")
    moment[0] += app.config["KMOP_API_TOKEN_CACHE_SECONDS"] - 1
    assert cases(client, token) == 200  # kept: this process could not know
    moment[0] += 1
    assert cases(client, token) == 401


def test_with_a_lifetime_of_zero_nothing_is_kept(engine: Engine, app: Flask) -> None:
    uncached = create_app({"TESTING": True, "SECRET_KEY": "test", "KMOP_API_TOKEN_CACHE_SECONDS": 0}, engine)
    client = uncached.test_client()
    token = token_of(engine, "auditor.dnv")
    assert cases(client, token) == 200
    revoke_behind_the_orms_back(engine, "auditor.dnv")
    assert cases(client, token) == 401


def test_noting_a_tokens_use_keeps_the_caller(
    client: FlaskClient, engine: Engine, moment: list[float]
) -> None:
    token = token_of(engine, "auditor.dnv")
    assert cases(client, token) == 200  # the first use is noted
    with engine.transaction() as db:
        assert people.token_of(db, token) is not None
        first = people.token_of(db, token).last_used_at  # type: ignore[union-attr]
    assert first is not None
    engine.advance_clock(clock.now() + people.TOKEN_USE_RECORDED_EVERY)
    assert cases(client, token) == 200  # noted again, a minute later on kmop's clock
    lookups = Lookups(engine)
    assert cases(client, token) == 200
    assert lookups.count == 0
    with engine.transaction() as db:
        assert people.token_of(db, token).last_used_at > first  # type: ignore[union-attr,operator]
