"""Messages: correlated by kmop's subscriptions, accepted once per id, buffered or refused clearly."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock
from engine.api import Engine
from engine.delivery import purge_expired
from engine.errors import InvalidInput, MessageIdReused, MessageNotDelivered, MessageTooLate
from engine.models import BufferedMessage, MessageReceipt
from engine.services import ServiceRegistry
from tests.conftest import make_engine


def _to_gateway(engine: Engine, key: str) -> int:
    with engine.transaction() as session:
        inst = engine.start(session, "deadline_race", business_key=key)
        engine.complete(session, engine.tasks(session, instance_id=inst.id)[0].id, {})
    return inst.id


@pytest.fixture
def race(deploy: Any) -> None:
    deploy("deadline_race.bpmn")


def test_a_message_reaches_only_the_case_with_its_key(engine: Engine, race: None) -> None:
    a, b = _to_gateway(engine, "A"), _to_gateway(engine, "B")
    with engine.transaction() as session:
        result = engine.message(session, "report_due", "B", {"score": "V"})
        assert result.status == "delivered" and result.instance_id == b
        assert engine.show(session, a).status == "waiting"
        assert "score" not in engine.show(session, a).data
        assert engine.show(session, b).data["score"] == "V"


def test_a_buffered_message_is_delivered_when_the_case_starts_waiting(engine: Engine, race: None) -> None:
    with engine.transaction() as session:
        early = engine.message(session, "report_due", "EARLY", {"score": "T"}, message_id="x-1")
    assert early.status == "buffered"
    inst = _to_gateway(engine, "EARLY")
    with engine.transaction() as session:
        detail = engine.show(session, inst)
        # the id stays known after delivery from the buffer: a resend is a duplicate
        again = engine.message(session, "report_due", "EARLY", {"score": "B"}, message_id="x-1")
    assert detail.status == "completed" and detail.data["score"] == "T"
    assert again.status == "duplicate" and again.instance_id == inst


def test_a_message_id_used_for_another_key_is_refused_not_dropped(engine: Engine, race: None) -> None:
    a, b = _to_gateway(engine, "A"), _to_gateway(engine, "B")
    with engine.transaction() as session:
        engine.message(session, "report_due", "A", {"score": "V"}, message_id="r-1")
    with engine.transaction() as session, pytest.raises(MessageIdReused) as refused:
        engine.message(session, "report_due", "B", {"score": "T"}, message_id="r-1")
    assert "already used for message 'report_due' with key 'A'" in str(refused.value)
    with engine.transaction() as session:
        assert engine.show(session, a).status == "completed"
        assert engine.show(session, b).status == "waiting", "B's message was not taken for a repeat"


def test_a_buffered_message_expires_and_its_receipt_says_so(engine: Engine, race: None) -> None:
    with engine.transaction() as session:
        engine.message(session, "report_due", "LATE", {"score": "T"}, message_id="m-late")
    engine.advance_clock(clock.now() + timedelta(days=8))  # the default buffer keeps it for 7 days
    with engine.transaction() as session:
        assert purge_expired(session) == 1
        receipt = session.get(MessageReceipt, "m-late")
        assert receipt is not None and receipt.outcome == "expired"
    inst = _to_gateway(engine, "LATE")
    with engine.transaction() as session:
        assert engine.show(session, inst).status == "waiting"


def test_a_message_due_at_the_moment_its_deadline_fires_is_refused_as_too_late(
    engine: Engine, race: None
) -> None:
    """The clock stands at the deadline and the worker has not swept yet: the deadline came first."""
    inst = _to_gateway(engine, "EDGE")
    with engine.transaction() as session:
        [timer] = engine.timers(session, instance_id=inst)
    engine.clock.set(timer.due_at)  # type: ignore[attr-defined]
    with pytest.raises(MessageTooLate) as refused, engine.transaction() as session:
        engine.message(session, "report_due", "EDGE", {"score": "T"}, message_id="m-edge")
    assert "deadline due" in refused.value.message and refused.value.status == 409
    with engine.transaction() as session:
        assert session.get(MessageReceipt, "m-edge") is None
        assert session.scalars(select(BufferedMessage)).all() == []
    engine.fire_due()  # the refusal changed nothing: the worker fires the deadline as always
    with engine.transaction() as session:
        detail = engine.show(session, inst)
    assert detail.status == "completed" and "end_late" in detail.completed_elements
    assert "score" not in detail.data


def test_a_message_for_a_case_that_ended_is_refused_not_kept(engine: Engine, race: None) -> None:
    inst = _to_gateway(engine, "DONE")
    with engine.transaction() as session:
        engine.message(session, "report_due", "DONE", {"score": "T"})
    with pytest.raises(MessageNotDelivered) as refused, engine.transaction() as session:
        engine.message(session, "report_due", "DONE", {"score": "B"}, message_id="m-after")
    assert "every case with key 'DONE' has ended" in refused.value.message
    with engine.transaction() as session:
        assert engine.show(session, inst).data["score"] == "T"
        assert session.get(MessageReceipt, "m-after") is None


def test_messages_racing_the_worker_at_the_deadline_are_delivered_or_refused_never_kept(
    engine: Engine, race: None, db_url: str, registry: ServiceRegistry
) -> None:
    """The worker sweeps while each case's report arrives exactly at its deadline: every report either
    reaches its case (which then ends by the report) or is refused; none is acknowledged and lost."""
    keys = [f"RACE-{n}" for n in range(12)]
    cases = {key: _to_gateway(engine, key) for key in keys}
    with engine.transaction() as session:
        due = max(t.due_at for t in engine.timers(session))
    engine.clock.set(due)  # type: ignore[attr-defined]
    worker = make_engine(db_url, registry)
    outcomes: dict[str, str] = {}

    def send_all() -> None:
        for key in keys:
            try:
                with engine.transaction() as session:
                    outcomes[key] = engine.message(session, "report_due", key, {"score": "T"}).status
            except MessageNotDelivered as exc:
                outcomes[key] = f"refused: {exc.message}"

    sender = threading.Thread(target=send_all)
    sender.start()
    worker.fire_due()
    sender.join()
    worker.fire_due()  # the next sweep: a refusal rolled back its own catch-up, and the first sweep skipped
    worker.close()  # the cases a sender held
    with engine.transaction() as session:
        assert session.scalars(select(BufferedMessage)).all() == []
        for key, instance_id in cases.items():
            detail = engine.show(session, instance_id)
            assert detail.status == "completed"
            if outcomes[key] == "delivered":
                assert "end_received" in detail.completed_elements and detail.data["score"] == "T"
            else:
                assert outcomes[key].startswith("refused"), outcomes[key]
                assert "end_late" in detail.completed_elements and "score" not in detail.data


def test_without_buffering_an_unmatched_message_is_refused(db_url: str, deploy: Any) -> None:
    engine = make_engine(db_url, message_buffer_seconds=0)
    with engine.transaction() as session:
        engine.deploy(session, [__import__("tests.conftest").conftest.DATA / "deadline_race.bpmn"])
    with pytest.raises(MessageNotDelivered) as info, engine.transaction() as session:
        engine.message(session, "report_due", "NOBODY", {})
    assert "no instance waits for message 'report_due' with correlation key 'NOBODY'" in info.value.message
    engine.close()


def test_a_message_payload_must_be_an_object(engine: Engine, race: None) -> None:
    with pytest.raises(InvalidInput), engine.transaction() as session:
        engine.message(session, "report_due", "A", ["not", "an", "object"])  # type: ignore[arg-type]
