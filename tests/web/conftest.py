"""A kmop web app on a fresh database with people of every role, and a browser-like client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import clock
from engine.api import Engine
from engine.config import PROJECT_ROOT
from tasks import people
from tasks.models import Organisation
from web import create_app

PASSWORD = "geheim-123"


@pytest.fixture
def app(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with engine.transaction() as db:
        engine.deploy(db, [PROJECT_ROOT / "bpmn"])
        acme = people.create_organisation(db, "Acme Opleidingen BV", "provider", "0566988259")
        other = people.create_organisation(db, "Andere BV", "provider", "1000000021")
        dnv = people.create_organisation(db, "DNV", "audit_bureau", audit_bureau_code="dnv")
        vlaio = people.create_organisation(db, "VLAIO", "agency")
        for username, org, roles in (
            ("admin.acme", acme, ("lokale_beheerder",)),
            ("jan.acme", acme, ()),
            ("piet.andere", other, ("dienstverlener",)),
            ("auditor.dnv", dnv, ("auditbureau",)),
            ("an.vlaio", vlaio, ("vlaio",)),
        ):
            _create_person(db, username, org, roles)
    # Try-outs in a folder of this test's own: the default (instance/tryouts) is shared by every xdist
    # worker, and one worker's try-out of the same analyst and process would discard another's database.
    tryouts = tmp_path_factory.mktemp("tryouts")
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "KMOP_TRYOUT_DIR": str(tryouts)}, engine=engine)
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def add_person(
    engine: Engine, username: str, roles: tuple[str, ...], organisation: dict[str, str] | None = None
) -> None:
    """One more person (password ``PASSWORD``) in the organisation matching ``organisation`` (VLAIO)."""
    with engine.transaction() as db:
        org = db.query(Organisation).filter_by(**(organisation or {"kind": "agency"})).one()
        _create_person(db, username, org, roles)


def _create_person(db: Any, username: str, org: Organisation, roles: tuple[str, ...]) -> None:
    people.create_person(
        db,
        username=username,
        name=username.split(".")[0].title(),
        email=f"{username}@x.example",
        password=PASSWORD,
        organisation=org,
        roles=roles,
        now=clock.now(),
    )


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def login(client: FlaskClient, username: str) -> Any:
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
