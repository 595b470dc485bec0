"""Drive the registration procedures through the engine's public interface, with the simulated clock."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from engine import clock
from engine.api import Engine
from engine.config import PROJECT_ROOT
from engine.models import ClockState
from engine.views import InstanceDetail
from tasks import register
from tasks.models import Certificate, OutboxMessage, Registration

BRUSSELS = ZoneInfo("Europe/Brussels")
START = datetime(2027, 3, 5, 10, 0, tzinfo=BRUSSELS)  # a Friday; every scenario starts here
MODULES = ("activity", "experience", "satisfaction", "knowledge", "integrity")
EXEMPT = ("experience", "satisfaction")


def application(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "enterprise_number": "0566.988.259",
        "company_name": "Acme Opleidingen BV",
        "email": "info@acme.be",
        "iban": "BE48 0011 2345 6727",
        "bic": "GEBABEBB",
        "services": ["training"],
        "provider_type": "private",
        "starter": False,
    }
    data.update(changes)
    return data


def scores(modules: tuple[str, ...] = MODULES, letter: str = "T", **special: str) -> dict[str, Any]:
    return {m: {"conformity": special.get(m, letter), "demonstrability": "V"} for m in modules}


@dataclass
class Case:
    """One application, driven like its people would."""

    world: World
    id: int
    key: str

    def detail(self) -> InstanceDetail:
        with self.world.engine.transaction() as session:
            return self.world.engine.show(session, self.id)

    def task(self, element: str) -> str:
        ready = [t for t in self.detail().ready_tasks if t.element_id == element]
        assert ready, f"no ready task {element}; waiting at {self.detail().active_elements}"
        return ready[0].id

    def complete(self, element: str, data: dict[str, Any], actor: str = "tester") -> None:
        with self.world.engine.transaction() as session:
            self.world.engine.complete(session, self.task(element), data, actor=actor)

    def sign_declarations(self) -> None:
        tasks = [t for t in self.detail().ready_tasks if t.element_id == "sign_declaration"]
        for t in tasks:
            with self.world.engine.transaction() as session:
                self.world.engine.complete(
                    session, t.id, {"declaration_accepted": True, "declared_by": "Jan Peeters"}
                )

    def to_audit(self, bureau: str = "dnv", hours: int = 12) -> None:
        self.sign_declarations()
        self.complete("check_declaration", {"decision": "approve"}, actor="case.handler")
        self.complete("choose_bureau", {"audit_bureau": bureau, "audit_hours": hours}, actor="provider")

    def report(self, report_id: str, audit_type: str = "full", **kw: Any) -> Any:
        payload = {"application_id": self.key, "report_id": report_id, "audit_type": audit_type, **kw}
        with self.world.engine.transaction() as session:
            return self.world.engine.message(session, "audit_report", None, payload)

    def request_renewal(self, bureau: str = "kiwa", hours: int = 10, by: str | None = "jan.acme") -> Any:
        payload = {
            "application_id": self.key,
            "audit_bureau": bureau,
            "audit_hours": hours,
            "requested_by": by,
        }
        with self.world.engine.transaction() as session:
            return self.world.engine.message(session, "renewal_requested", None, payload)

    def decide(self, decision: str = "approve", note: str | None = None) -> None:
        self.complete("decide", {"decision": decision, "decision_note": note}, actor="case.handler")


class World:
    """The engine, the clock and the register, as the scenarios see them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.counter = 0

    def apply(self, **changes: Any) -> Case:
        self.counter += 1
        key = f"APP-{self.counter:04d}"
        with self.engine.transaction() as session:
            inst = self.engine.start(session, "registration", application(**changes), business_key=key)
        return Case(self, inst.id, key)

    def now(self) -> datetime:
        return clock.now()

    def today(self) -> date:
        return clock.now().astimezone(BRUSSELS).date()

    def advance(self, **delta: float) -> None:
        self.engine.advance_clock(clock.now() + timedelta(**delta))

    def advance_to(self, when: datetime) -> None:
        self.engine.advance_clock(when)

    def registrations(self, key: str) -> list[dict[str, Any]]:
        with self.engine.transaction() as session:
            return [register.as_record(session, r) for r in register.of_application(session, key)]

    def outbox(self, key: str) -> list[OutboxMessage]:
        with self.engine.transaction() as session:
            rows = session.scalars(
                select(OutboxMessage).where(OutboxMessage.application_id == key).order_by(OutboxMessage.id)
            )
            return list(rows)

    def certificates(self, number: str) -> list[Certificate]:
        with self.engine.transaction() as session:
            return list(
                session.scalars(
                    select(Certificate)
                    .join(Registration, Registration.id == Certificate.registration_id)
                    .where(Registration.number == number)
                    .order_by(Certificate.id)
                )
            )


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    # Every scenario starts at the same moment, whatever the date the suite runs on.
    with engine.db.begin() as conn:
        conn.execute(update(ClockState).where(ClockState.id == 1).values(now=START))
    with engine.transaction() as session:
        engine.deploy(session, [PROJECT_ROOT / "bpmn"])
    yield World(engine)
