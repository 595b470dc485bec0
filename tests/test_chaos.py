"""Chaos: a web server and two workers as separate processes, killed with SIGKILL at random moments.

On PostgreSQL, the production set-up: gunicorn serving ``web:create_app()`` and two ``kmop worker``
processes. Clients drive registrations through the JSON API as their people would (a provider starts and
signs, the agency checks and decides, the audit bureau's system sends its report, sometimes twice) while
the simulated clock moves on by days, so reminders, escalations and deadlines fall due. Every few
seconds the server or a worker is killed with SIGKILL and started again; a client whose request got no
answer sends it again, as a real one would.

At the end, after the workers have caught up: every acknowledged operation is in the history exactly
once; no case waits without a ready task, a timer, a subscription or an incident; no timer fired twice;
no registration number or certificate is there twice. The figures are printed.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from engine import clock
from engine.api import Engine
from engine.config import PROJECT_ROOT, Settings
from engine.models import (
    ClockState,
    HistoryEntry,
    Incident,
    MessageReceipt,
    MessageSubscription,
    ProcessInstance,
    UserTask,
    WakeUp,
)
from tasks import people
from tasks.models import Certificate, Registration
from tasks.registry import default_registry
from tests.procedures.conftest import MODULES, START, application

pytestmark = [pytest.mark.postgres, pytest.mark.processes]

LOAD_SECONDS = float(os.environ.get("KMOP_CHAOS_SECONDS", "75"))
MIN_OPERATIONS = 50  # acknowledged operations the load must reach, however busy the machine
MAX_LOAD_SECONDS = 4 * LOAD_SECONDS
CLIENTS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """The server and the workers, each started again after it is killed."""

    def __init__(self, url: str, port: int, logs: Path) -> None:
        self.env = {
            **os.environ,
            "KMOP_DATABASE_URL": url,
            "KMOP_CLOCK": "simulated",
            "KMOP_SECRET_KEY": "chaos",
            "KMOP_WORKER_POLL_SECONDS": "0.2",
            "KMOP_SERVICE_BACKOFF_SECONDS": "1",
        }
        self.env.pop("KMOP_REPLAY", None)
        self.port, self.logs = port, logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()

    def command(self, name: str) -> list[str]:
        if name == "server":
            gunicorn = str(Path(sys.executable).with_name("gunicorn"))
            return [
                gunicorn,
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "60",
                "web:create_app()",
            ]
        return [sys.executable, "-m", "web", "worker"]

    def start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.running[name] = subprocess.Popen(
            self.command(name),
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill takes gunicorn's workers too
        )

    def kill(self, name: str) -> None:
        process = self.running[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.kills[name] += 1

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:  # stopped already (a second call) or killed: nothing to do
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@dataclass
class Ledger:
    """What the server acknowledged, and what clients could not know."""

    started: dict[str, int] = field(default_factory=dict)  # business key -> case id
    completed: Counter[tuple[int, str]] = field(default_factory=Counter)  # (case, element) acknowledged
    reports: dict[str, str] = field(default_factory=dict)  # report id -> business key, delivered
    acknowledged: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """A person's system calling the API with a token; a request without an answer is sent again."""

    def __init__(self, base: str, token: str, ledger: Ledger, stop: threading.Event) -> None:
        self.base, self.token, self.ledger, self.stop = base, token, ledger, stop

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        for _ in range(200):
            request = urllib.request.Request(
                self.base + path,
                method=method,
                data=json.dumps(body).encode() if body is not None else None,
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                if error.code >= 500:
                    raise AssertionError(
                        f"{method} {path} answered {error.code}: {error.read()[:300]!r}"
                    ) from None
                return error.code, json.loads(error.read() or b"null")
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError):
                with self.ledger.lock:
                    self.ledger.unanswered += 1
                time.sleep(0.3)  # the server is down or was killed mid-request: ask again
        raise AssertionError(f"{method} {path}: no answer in a minute")


def _tasks(client: Client, case: int, element: str) -> list[dict[str, Any]]:
    status, body = client.call("GET", f"/api/v1/tasks?case={case}")
    return [t for t in body["tasks"] if t["element_id"] == element] if status == 200 else []


def _complete(client: Client, ledger: Ledger, case: int, element: str, data: dict[str, Any]) -> None:
    for task in _tasks(client, case, element):
        status, _ = client.call("POST", f"/api/v1/tasks/{task['id']}/complete", {"data": data})
        if status == 200:
            with ledger.lock:
                ledger.completed[(case, element)] += 1
                ledger.acknowledged["complete"] += 1


PROVIDERS = 240  # a provider of its own per case: one registration per service per enterprise


def enterprise_number(n: int) -> str:
    """A valid enterprise number for the n-th provider (check digits 97 - first eight mod 97)."""
    first = 10_000_000 + n
    return f"{first:08d}{97 - first % 97:02d}"


def drive(
    n: int, provider: Client, agency: Client, bureau: Client, ledger: Ledger, rng: random.Random
) -> None:
    """One registration from start to decision, like its people would, then the next."""
    key = f"APP-CHAOS-{n:04d}"
    data = application(enterprise_number=enterprise_number(n), company_name=f"Chaos {n} BV")
    status, body = provider.call(
        "POST", "/api/v1/processes/registration/instances", {"data": data, "business_key": key}
    )
    if status == 201:
        with ledger.lock:
            ledger.started[key] = body["id"]
            ledger.acknowledged["start"] += 1
        case = body["id"]
    else:  # 409: its first try was stored before the answer was lost
        assert status == 409, (status, body)
        status, cases = agency.call("GET", "/api/v1/cases?limit=200")
        found = [c["id"] for c in cases["cases"] if c["business_key"] == key]
        assert status == 200 and found, (body, cases)
        case = found[0]
        with ledger.lock:
            ledger.started[key] = case
    steps = [
        (provider, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan Peeters"}),
        (agency, "check_declaration", {"decision": "approve"}),
        (provider, "choose_bureau", {"audit_bureau": "dnv", "audit_hours": 12}),
    ]
    for who, element, data in steps:
        if ledger_stopped(provider):
            return
        _complete(who, ledger, case, element, data)
    report_id = f"DNV-{n:04d}"
    scores = {m: {"conformity": "T", "demonstrability": "V"} for m in MODULES}
    report = {"application_id": key, "report_id": report_id, "audit_type": "full", "scores": scores}
    for _ in range(2 if rng.random() < 0.3 else 1):  # the bureau's system sends it twice, now and then
        status, body = bureau.call("POST", "/api/v1/messages/audit_report", report)
        if status == 200 and body["status"] in ("delivered", "duplicate"):
            with ledger.lock:
                ledger.reports[report_id] = key
                ledger.acknowledged["report"] += 1
    _complete(agency, ledger, case, "follow_up_late_report", {"escalation_note": "gebeld"})
    _complete(agency, ledger, case, "decide", {"decision": "approve", "decision_note": "in orde"})


def ledger_stopped(client: Client) -> bool:
    return client.stop.is_set()


@pytest.fixture
def chaos_db(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, str]]]:
    monkeypatch.setattr(people, "generate_password_hash", lambda password: "unused")  # tokens only here
    engine = Engine(Settings.from_env({}, database_url=pg_url, clock="simulated"), default_registry())
    engine.init_db()
    with engine.db.begin() as conn:
        conn.execute(update(ClockState).values(now=START))
    tokens: dict[str, str] = {}
    with engine.transaction() as db:
        engine.deploy(db, [PROJECT_ROOT / "bpmn"])
        now = clock.now()
        dnv = people.create_organisation(db, "DNV", "audit_bureau", audit_bureau_code="dnv")
        vlaio = people.create_organisation(db, "VLAIO", "agency")
        everyone = [("auditor.dnv", dnv, ("auditbureau",)), ("an.vlaio", vlaio, ("vlaio",))]
        for n in range(1, PROVIDERS + 1):
            org = people.create_organisation(db, f"Chaos {n} BV", "provider", enterprise_number(n))
            everyone.append((f"provider.{n}", org, ("dienstverlener",)))
        for username, org, roles in everyone:
            person = people.create_person(
                db,
                username=username,
                name=username,
                email=f"{username}@x.example",
                password="irrelevant-123",
                organisation=org,
                roles=roles,
                now=now,
            )
            tokens[username] = people.issue_token(db, person, "chaos", now)
    engine.close()
    yield pg_url, tokens


def test_killing_the_server_and_workers_loses_and_duplicates_nothing(
    chaos_db: tuple[str, dict[str, str]], tmp_path: Path, record_property: Any, request: pytest.FixtureRequest
) -> None:
    url, tokens = chaos_db
    port = _free_port()
    procs = Processes(url, port, tmp_path)
    request.addfinalizer(procs.stop_all)  # also when the test fails half-way: no process is left behind
    for name in ("server", "worker-a", "worker-b"):
        procs.start(name)
    stop = threading.Event()
    ledger = Ledger()
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(8)
    errors: list[BaseException] = []
    numbers = iter(range(1, 10_000))
    numbers_lock = threading.Lock()

    def client_loop(seed: int) -> None:
        local = random.Random(seed)
        agency = Client(base, tokens["an.vlaio"], ledger, stop)
        bureau = Client(base, tokens["auditor.dnv"], ledger, stop)
        try:
            while not stop.is_set():
                with numbers_lock:
                    n = next(numbers)
                assert n <= PROVIDERS, "more cases than providers: raise PROVIDERS"
                provider = Client(base, tokens[f"provider.{n}"], ledger, stop)
                drive(n, provider, agency, bureau, ledger, local)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    sim = Engine(Settings.from_env({}, database_url=url, clock="simulated"), default_registry())
    threads = [threading.Thread(target=client_loop, args=(seed,), daemon=True) for seed in range(CLIENTS)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    clock_moves = 0
    try:
        # The load lasts LOAD_SECONDS, longer on a busy machine until MIN_OPERATIONS were acknowledged
        # (at most MAX_LOAD_SECONDS): the test measures nothing by time, it needs enough work done.
        while not stop.is_set() and time.monotonic() - began < MAX_LOAD_SECONDS:
            done = sum(ledger.acknowledged.values())
            if time.monotonic() - began >= LOAD_SECONDS and done > MIN_OPERATIONS:
                break
            time.sleep(rng.uniform(1.5, 4.0))
            victim = rng.choice(["server", "worker-a", "worker-b", "server"])
            procs.kill(victim)
            if rng.random() < 0.7:  # weeks go by: reminders after 4 weeks, escalations after 6
                sim.clock.set(sim.clock.now() + timedelta(days=rng.randint(2, 12)))  # type: ignore[attr-defined]
                clock_moves += 1
            time.sleep(rng.uniform(0.0, 1.0))
            procs.start(victim)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors[0]

    # Let the workers catch up on what fell due, then stop everything and look.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sim.transaction(write=False) as db:
            due = db.scalar(select(func.count()).select_from(WakeUp).where(WakeUp.due_at <= sim.clock.now()))
        if not due:
            break
        time.sleep(0.5)
    procs.stop_all()

    lost: list[str] = []
    duplicated: list[str] = []
    stuck: list[str] = []
    with sim.transaction(write=False) as db:
        instances = db.scalars(select(ProcessInstance)).all()
        by_key = Counter(i.business_key for i in instances if i.process_key == "registration")
        for key in ledger.started:
            if by_key[key] != 1:
                (lost if by_key[key] == 0 else duplicated).append(f"start {key}: {by_key[key]} cases")
        history = db.scalars(select(HistoryEntry)).all()
        done = Counter((h.instance_id, h.element_id) for h in history if h.event == "user_task_completed")
        for (case, element), acknowledged in ledger.completed.items():
            if done[(case, element)] < acknowledged:
                lost.append(f"complete {element} of case {case}: {done[(case, element)]} of {acknowledged}")
        for (case, element), count in done.items():
            tasks = db.scalar(
                select(func.count())
                .select_from(UserTask)
                .where(
                    UserTask.instance_id == case,
                    UserTask.element_id == element,
                    UserTask.status == "completed",
                )
            )
            if count != tasks:
                duplicated.append(f"complete {element} of case {case}: {count} entries for {tasks} tasks")
        received = Counter(h.instance_id for h in history if h.event == "message_received")
        for report_id in ledger.reports:
            receipt = db.get(MessageReceipt, report_id)
            if receipt is None or receipt.outcome != "delivered":
                lost.append(f"report {report_id}: {receipt.outcome if receipt else 'no receipt'}")
        for instance in instances:
            if instance.process_key == "registration" and received[instance.id] > 1:
                duplicated.append(f"report for case {instance.id}: received {received[instance.id]} times")
        fired = Counter(
            (h.instance_id, h.element_id, h.detail.get("due_at")) for h in history if h.event == "timer_fired"
        )
        twice = [f"timer {k}: fired {n} times" for k, n in fired.items() if n > 1]
        for instance in instances:
            if instance.status not in ("waiting", "running", "error"):
                continue
            waits = any(
                db.scalar(select(func.count()).select_from(model).where(*where))
                for model, where in (
                    (UserTask, (UserTask.instance_id == instance.id, UserTask.status == "ready")),
                    (WakeUp, (WakeUp.instance_id == instance.id,)),
                    (MessageSubscription, (MessageSubscription.instance_id == instance.id,)),
                    (Incident, (Incident.instance_id == instance.id, Incident.status == "open")),
                )
            )
            if not waits:
                stuck.append(f"case {instance.id} ({instance.business_key}) is {instance.status} on nothing")
        given = Counter(db.scalars(select(Registration.number)))
        duplicated += [f"registration number {n} {c} times" for n, c in given.items() if c > 1]
        certificates = Counter(
            (c.registration_id, c.valid_from, c.valid_until, c.status)
            for c in db.scalars(select(Certificate))
        )
        duplicated += [f"certificate {k} {c} times" for k, c in certificates.items() if c > 1]
        registered = db.scalar(select(func.count()).select_from(Registration))
        incidents = db.scalars(select(Incident).where(Incident.status == "open")).all()
    sim.close()
    operations = sum(ledger.acknowledged.values())
    figures = (
        f"{operations} operations acknowledged ({dict(ledger.acknowledged)}), "
        f"{len(ledger.started)} cases, {registered} registrations, {clock_moves} clock moves, "
        f"kills {dict(procs.kills)} ({sum(procs.kills.values())} in all), "
        f"{ledger.unanswered} requests sent again after no answer; "
        f"lost {len(lost)}, duplicated {len(duplicated) + len(twice)}, stuck {len(stuck)}, "
        f"open incidents {len(incidents)}"
    )
    print(f"\nchaos: {figures}")
    record_property("figures", figures)
    assert operations > MIN_OPERATIONS and sum(procs.kills.values()) >= 10
    assert lost == [], lost
    assert duplicated == [] and twice == [], duplicated + twice
    assert stuck == [], stuck
    assert [(i.element_id, i.message) for i in incidents] == []
