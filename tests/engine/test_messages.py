"""Messages: correlated by kmop's subscriptions, accepted once per id, buffered or refused clearly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine import clock
from engine.api import Engine
from engine.errors import InvalidInput, MessageIdReused, MessageNotDelivered
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


def test_a_buffered_message_expires(engine: Engine, race: None) -> None:
    with engine.transaction() as session:
        engine.message(session, "report_due", "LATE", {"score": "T"})
    engine.advance_clock(clock.now() + timedelta(days=8))  # the default buffer keeps it for 7 days
    inst = _to_gateway(engine, "LATE")
    with engine.transaction() as session:
        assert engine.show(session, inst).status == "waiting"


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
