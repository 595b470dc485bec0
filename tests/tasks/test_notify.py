"""Outgoing mail: kept in the outbox, sent over SMTP by the worker when a server is configured."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock
from engine.api import Engine
from engine.worker import Worker
from tasks import notify
from tasks.models import OutboxMessage


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # a free port on loopback for this test's server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("KMOP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KMOP_SMTP_PORT", str(port))
    monkeypatch.setenv("KMOP_SMTP_FROM", "kmo-portefeuille@vlaio.example")
    yield inbox
    controller.stop()


def _queue(engine: Engine, key: str) -> None:
    with engine.transaction() as session:
        notify.queue(
            session,
            key=key,
            to="info@acme.example",
            template="registration_expired",
            fields={"company_name": "Acme", "deadline": "5 maart 2032", "registrations": "-"},
            application_id="APP-1",
            now=clock.now(),
        )


def test_the_worker_sends_the_outbox_once(engine: Engine, smtp_server: Inbox) -> None:
    _queue(engine, "k-1")
    _queue(engine, "k-1")  # the same key again: one message
    worker = Worker(engine)
    worker.sweep()
    worker.sweep()
    assert len(smtp_server.messages) == 1
    envelope = smtp_server.messages[0]
    assert envelope.rcpt_tos == ["info@acme.example"]
    text = envelope.content.decode()
    assert "Uw registratie is verlopen" in text and "5 maart 2032" in text
    with engine.transaction() as session:
        [row] = session.scalars(select(OutboxMessage)).all()
        assert row.sent_at is not None and row.error is None


def test_without_smtp_mail_is_kept_and_an_unreachable_server_is_recorded(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KMOP_SMTP_HOST", raising=False)
    _queue(engine, "k-2")
    assert engine.run_jobs()["outbox"] == 0
    monkeypatch.setenv("KMOP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KMOP_SMTP_PORT", "1")  # nothing listens there
    assert engine.run_jobs()["outbox"] == 0
    with engine.transaction() as session:
        [row] = session.scalars(select(OutboxMessage)).all()
    assert row.sent_at is None and row.error and "Connection" in row.error


def test_a_one_time_link_is_sent_and_then_blanked_out_of_the_kept_copy(
    engine: Engine, smtp_server: Inbox
) -> None:
    link = "https://kmop.example/account/uitnodiging/geheim-token"
    with engine.transaction() as session:
        notify.queue(
            session,
            key="invitation:1",
            to="greet@acme.example",
            template="invitation",
            fields={"name": "Greet", "inviter": "An", "organisation": "Acme", "link": link, "until": "-"},
            application_id=None,
            now=clock.now(),
            secret=link,
        )
    Worker(engine).sweep()
    assert link in smtp_server.messages[0].content.decode()  # the e-mail itself has the link
    with engine.transaction() as session:
        [row] = session.scalars(select(OutboxMessage)).all()
        assert link not in row.body and notify.SENT_SECRET in row.body and "secret" not in row.meta
