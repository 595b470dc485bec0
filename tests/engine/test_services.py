"""Service tasks: retried with backoff, then an incident; a retry performs the side effect once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, insert, select, update

from engine import clock
from engine.api import Engine
from engine.models import ClockState
from engine.services import ServiceContext, ServiceRegistry
from web.cli import main as kmop

side_effects = Table("test_side_effect", MetaData(), Column("key", String(120), primary_key=True))


class Mailer:
    """A stand-in for a mail service that is down until told otherwise."""

    def __init__(self) -> None:
        self.down = True
        self.attempts: list[int] = []

    def __call__(self, ctx: ServiceContext, recipient: str) -> dict[str, Any]:
        """Send the notification (writes its side effect first, like a real outbox would)."""
        ctx.session.execute(insert(side_effects).values(key=ctx.idempotency_key))
        self.attempts.append(ctx.attempt)
        if self.down:
            raise ConnectionError("mail server unreachable")
        return {"sent_to": recipient, "key": ctx.idempotency_key}


@pytest.fixture
def mailer(engine: Engine, registry: ServiceRegistry, deploy: Any) -> Mailer:
    side_effects.create(engine.db)
    mail = Mailer()
    registry.register("notify_provider", mail)
    registry.register("after_review", lambda ctx: {"ok": True})
    deploy("service_then_review.bpmn", "review-form.json")
    return mail


def _side_effect_count(engine: Engine) -> int:
    with engine.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(side_effects)) or 0)


def test_failing_service_is_retried_then_becomes_incident_and_retry_completes_once(
    engine: Engine, mailer: Mailer, capsys: pytest.CaptureFixture[str]
) -> None:
    with engine.transaction() as session:
        inst = engine.start(session, "service_then_review", {"email": "info@acme.be"}, business_key="A-1")
    assert inst.status == "running"  # a retry is scheduled
    with engine.transaction() as session:
        (retry,) = engine.timers(session, instance_id=inst.id)
    assert retry.kind == "retry" and retry.due_at == clock.now() + timedelta(seconds=10)

    engine.advance_clock(clock.now() + timedelta(seconds=9))
    assert mailer.attempts == [1], "no retry before the backoff has passed"
    engine.advance_clock(clock.now() + timedelta(seconds=1))
    assert mailer.attempts == [1, 2]
    engine.advance_clock(clock.now() + timedelta(seconds=20))  # backoff doubles
    assert mailer.attempts == [1, 2, 3]

    with engine.transaction() as session:
        detail = engine.show(session, inst.id)
        incidents = engine.incidents(session)
    assert detail.status == "error"
    assert len(incidents) == 1 and incidents[0].attempts == 3 and incidents[0].element_id == "notify"
    assert "mail server unreachable" in incidents[0].message
    assert detail.timers == [], "no more automatic retries after the incident"
    assert _side_effect_count(engine) == 0, "failed attempts leave no side effect behind"

    # Another case goes on while this one has an incident.
    mailer.down = False
    with engine.transaction() as session:
        other = engine.start(session, "service_then_review", {"email": "b@b.be"}, business_key="B-1")
    assert other.status == "waiting"

    assert kmop(["retry", str(incidents[0].id), "--as", "operator"], engine=engine) == 0
    assert "waiting" in capsys.readouterr().out
    with engine.transaction() as session:
        detail = engine.show(session, inst.id)
        assert engine.incidents(session) == []
    assert detail.status == "waiting" and [t.name for t in detail.ready_tasks] == ["Dossier nakijken"]
    assert detail.data["notification"]["sent_to"] == "info@acme.be"
    assert _side_effect_count(engine) == 2  # one for each case, never two for one
    assert [h.event for h in detail.history].count("retried") == 3
    # Retrying a resolved incident is a conflict, not a second side effect.
    assert kmop(["retry", str(incidents[0].id)], engine=engine) == 3
    assert _side_effect_count(engine) == 2


def test_per_service_retry_settings(engine: Engine, registry: ServiceRegistry, deploy: Any) -> None:
    side_effects.create(engine.db)
    mail = Mailer()
    registry.register("notify_provider", mail, attempts=1)
    registry.register("after_review", lambda ctx: {})
    deploy("service_then_review.bpmn", "review-form.json")
    with engine.transaction() as session:
        inst = engine.start(session, "service_then_review", {"email": "x@y.be"})
        assert inst.status == "error"
        assert [i.attempts for i in engine.incidents(session)] == [1]


def test_form_fields_are_validated_and_only_they_are_stored(engine: Engine, mailer: Mailer) -> None:
    mailer.down = False
    with engine.transaction() as session:
        inst = engine.start(session, "service_then_review", {"email": "x@y.be"})
        task = engine.tasks(session, instance_id=inst.id)[0]
    assert task.form == "review-form.json"
    from engine.forms import FormErrors

    with pytest.raises(FormErrors) as info, engine.transaction() as session:
        engine.complete(session, task.id, {"decision": "maybe", "decision_note": "x" * 600})
    assert set(info.value.errors) == {"decision", "decision_note"}
    assert "Beslissing" in info.value.errors["decision"]
    with pytest.raises(FormErrors) as missing, engine.transaction() as session:
        engine.complete(session, task.id, {})
    assert missing.value.errors == {"decision": "is required"}
    with engine.transaction() as session:
        engine.complete(
            session, task.id, {"decision": "approve", "is_admin": True, "email": "evil@x"}, actor="an"
        )
        detail = engine.show(session, inst.id)
    assert detail.status == "completed"
    assert detail.data["decision"] == "approve"
    assert "is_admin" not in detail.data and detail.data["email"] == "x@y.be"


def test_the_command_line_shows_times_in_brussels_with_the_zone(
    engine: Engine, deploy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kmop timers`` shows a timer due at 23:00 UTC on 30 November as 00:00 CET on 1 December, as the
    web pages do (times are stored in UTC; KMOP_TIMEZONE names the zone they are shown in)."""
    deploy("one_timer.bpmn")
    with engine.db.begin() as conn:
        conn.execute(update(ClockState).values(now=datetime(2028, 11, 30, 22, 0, tzinfo=UTC)))
    with engine.transaction() as session:
        engine.start(session, "one_timer", {"wait_for": "PT1H"}, business_key="ZONE-1")
    capsys.readouterr()
    assert kmop(["timers"], engine=engine) == 0
    out = capsys.readouterr().out
    assert "01/12/2028 00:00:00 CET" in out, out
    assert "30/11/2028 23:00" not in out
