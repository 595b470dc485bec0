"""Operations across real ``kmop`` processes: a worker's heartbeat, metrics written by two processes into one
``PROMETHEUS_MULTIPROC_DIR`` and read by one scrape of the web application, and JSON log lines."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine import clock
from engine.api import Engine
from engine.models import HistoryEntry, WorkerHeartbeat
from tests.kmop_cli import Kmop
from tests.web.test_ops import PERSONAL, TOKEN, _settings, _sim, scrape, value
from tests.web.test_provider import application, full_scores, to_report

pytestmark = [
    pytest.mark.processes,
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),  # processes: one database is enough
]

RUN_FIELDS = {"time", "level", "logger", "message", "instance_id", "business_key", "process_key"}


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "the process logged nothing"
    return [json.loads(line) for line in lines]  # every line is one JSON object


def _runs(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "kmop.engine" and "duration_ms" in line]


def _wait_for(condition: Any, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    """Poll the database for what the worker does (a process starting up; no timer is waited on)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the worker ended early: {proc.communicate()[1]}")
        assert time.monotonic() < deadline, "the worker did not do it in time"
        time.sleep(0.2)


def test_a_worker_beats_and_two_processes_metrics_meet_in_one_scrape(
    app: Flask, engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "APP-P-000001"
    case = to_report(engine, key)
    _sim(engine).set(clock.now() + timedelta(weeks=4, hours=2))  # its 4-week reminder is 2 hours late
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared), "KMOP_LOG_FORMAT": "json"}
    kmop = Kmop(db_url, **env)
    worker = subprocess.Popen(
        [sys.executable, "-m", "web", "worker"],
        env={**kmop.env, "KMOP_HEARTBEAT_SECONDS": "0.2"},
        stderr=subprocess.PIPE,
        text=True,
    )

    def fired() -> bool:
        with engine.transaction(write=False) as db:
            events = db.scalars(select(HistoryEntry.event).where(HistoryEntry.instance_id == case)).all()
            return "timer_fired" in events and db.get(WorkerHeartbeat, f"{socket.gethostname()}:{worker.pid}")

    try:
        _wait_for(fired, worker)
    finally:
        worker.terminate()
        _, worker_log = worker.communicate(timeout=30)
    assert worker.returncode == 0, worker_log
    # the second process: a report delivered from the command line runs the audit's service tasks
    payload = {"application_id": key, "report_id": "R-1", "audit_type": "full", "scores": full_scores()}
    kmop.run("message", "audit_report", "--payload", json.dumps(payload))

    pids = {int(f.stem.rsplit("_", 1)[1]) for f in shared.glob("*.db")}
    assert worker.pid in pids and len(pids) == 2, pids
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))  # this web process reads the folder
    _settings(engine, metrics_token=TOKEN)
    samples = scrape(app.test_client())
    labels = {"process": "registration"}
    assert value(samples, "kmop_timer_lateness_seconds_count", **labels) == 1  # by the worker
    assert value(samples, "kmop_timer_lateness_seconds_sum", **labels) == pytest.approx(7200, abs=2)
    assert value(samples, "kmop_service_task_seconds_count", operator="summarize_audit") == 1  # by the CLI
    assert value(samples, "kmop_cases", process="registration", status="waiting") == 1  # counted now

    with engine.transaction(write=False) as db:
        beat = db.get(WorkerHeartbeat, f"{socket.gethostname()}:{worker.pid}")
        assert beat is not None and beat.beat_at == clock.now()  # on kmop's (simulated) clock
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200, ready.get_json()

    runs = _runs(_json_lines(worker_log))
    assert runs and all(set(line) >= RUN_FIELDS for line in runs)
    assert {(r["instance_id"], r["business_key"], r["status"]) for r in runs} == {(case, key, "waiting")}


def test_json_log_lines_say_what_ran_and_nothing_personal(db_url: str, app: Flask) -> None:
    kmop = Kmop(db_url, KMOP_LOG_FORMAT="json")
    key = "APP-P-000002"
    started = kmop.run(
        "start", "registration", "--business-key", key, "--data", json.dumps(application()), "--json"
    )
    case = json.loads(started.stdout)["id"]
    task = kmop.json("tasks", "--instance", str(case))[0]
    signed = {"declaration_accepted": True, "declared_by": "Jan Peeters"}
    completed = kmop.run("complete", task["id"], "--as", "jan.acme", "--data", json.dumps(signed))

    lines = _json_lines(started.stderr) + _json_lines(completed.stderr)
    runs = _runs(lines)
    assert [(r["run"], r["instance_id"], r["business_key"], r["process_key"]) for r in runs] == [
        ("start", case, key, "registration"),
        ("run", case, key, "registration"),
    ]
    assert all(set(r) >= RUN_FIELDS and r["level"] == "INFO" for r in runs)
    assert runs[0]["elements"] == ["sign_declaration"] and runs[0]["status"] == "waiting"
    assert runs[1]["elements"] == ["check_declaration"] and isinstance(runs[1]["duration_ms"], float)
    for line in (started.stderr + completed.stderr).splitlines():
        assert not any(p in line for p in (*PERSONAL, "Jan Peeters", "jan.acme")), line


def test_text_logs_stay_the_default(db_url: str, app: Flask) -> None:
    kmop = Kmop(db_url)
    kmop.env.pop("KMOP_LOG_FORMAT", None)
    started = kmop.run(
        "start", "registration", "--business-key", "APP-P-000003", "--data", json.dumps(application())
    )
    line = next(x for x in started.stderr.splitlines() if "kmop.engine" in x)
    assert " INFO kmop.engine: start instance " in line and "at sign_declaration" in line
    assert not line.startswith("{")
