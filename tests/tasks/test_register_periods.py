"""A registration's periods: after a renewal ahead of time, the current period and the next one."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import create_engine, text

from engine.api import Engine
from engine.db import alembic_config
from tasks import register
from tasks.models import Registration

NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)
TODAY = date(2026, 12, 1)


def _registration(status: str = "active") -> Registration:
    return Registration(
        number="DV.O000001",
        status=status,
        valid_from=date(2031, 12, 1),
        valid_until=date(2036, 12, 1),
        previous_from=TODAY,
        previous_until=date(2031, 12, 1),
    )


def test_until_the_renewed_period_starts_the_previous_one_is_current() -> None:
    reg = _registration()
    before = register.periods(reg, date(2031, 11, 30))
    assert before.current == register.Period(TODAY, date(2031, 12, 1))
    assert before.next == register.Period(date(2031, 12, 1), date(2036, 12, 1))
    started = register.periods(reg, date(2031, 12, 1))
    assert started == register.Periods(register.Period(date(2031, 12, 1), date(2036, 12, 1)), None)
    stopped = register.periods(_registration("stopped"), date(2027, 3, 1))
    assert stopped.current.valid_until == date(2031, 12, 1) and stopped.next is None


def test_a_renewal_keeps_the_current_period_and_shows_the_next(engine: Engine) -> None:
    with engine.transaction() as db:
        reg = register.create(
            db,
            application_id="APP-P-1",
            enterprise_number="0566988259",
            company_name="Acme",
            email="info@acme.example",
            service="training",
            status="active",
            valid_from=TODAY,
            valid_until=date(2031, 12, 1),
            follow_up_deadline=None,
            now=NOW,
            reason="registratie",
            source="s-1",
        )
        assert register.as_record(db, reg, today=TODAY)["next_period"] is None
        renew = {"valid_from": date(2031, 12, 1), "valid_until": date(2036, 12, 1), "status": "active"}
        assert register.change(db, reg, now=NOW, on_date=TODAY, reason="verlengd", source="s-2", **renew)
        # the same call again (a retried service task) changes nothing, and keeps the current period
        assert not register.change(db, reg, now=NOW, on_date=TODAY, reason="verlengd", source="s-2", **renew)
        record = register.as_record(db, reg, today=TODAY)
    assert record["current_period"] == {"valid_from": "2026-12-01", "valid_until": "2031-12-01"}
    assert record["next_period"] == {"valid_from": "2031-12-01", "valid_until": "2036-12-01"}
    assert (record["valid_from"], record["valid_until"]) == ("2031-12-01", "2036-12-01")  # the latest
    assert record["history"][-1]["valid_from"] == "2031-12-01"


def test_the_migration_finds_the_current_period_of_a_registration_renewed_before_it(db_url: str) -> None:
    from alembic import command

    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0007")
    db = create_engine(db_url)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO registration (id, number, application_id, enterprise_number, company_name, "
                "email, service, status, valid_from, valid_until, created_at, updated_at) VALUES "
                "(1, 'DV.O000001', 'A', '0566988259', 'Acme', 'a@x', 'training', 'active', :next_from, "
                ":next_until, :now, :now), "
                "(2, 'DV.O000002', 'B', '0566988259', 'Acme', 'a@x', 'advice', 'active', :start, "
                ":next_from, :now, :now)"
            ),
            {"start": TODAY, "next_from": date(2031, 12, 1), "next_until": date(2036, 12, 1), "now": NOW},
        )
        for reg_id, start, until in (
            (1, TODAY, date(2031, 12, 1)),
            (1, date(2031, 12, 1), date(2036, 12, 1)),
        ):
            conn.execute(
                text(
                    "INSERT INTO registration_change (registration_id, at, on_date, status, valid_from, "
                    "valid_until, reason) VALUES (:id, :now, :on, 'active', :start, :until, 'x')"
                ),
                {"id": reg_id, "now": NOW, "on": TODAY, "start": start, "until": until},
            )
    command.upgrade(cfg, "head")
    with db.connect() as conn:
        rows = conn.execute(text("SELECT id, previous_from, previous_until FROM registration ORDER BY id"))
        found = [(r[0], _day(r[1]), _day(r[2])) for r in rows]
    db.dispose()
    assert found == [(1, TODAY, date(2031, 12, 1)), (2, None, None)]


def _day(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[return-value]
