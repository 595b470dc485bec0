"""Section 7 of the benchmark: one flow in-process and through HTTP, and what HTTP adds.

The flow (``bench/data/http_flow.bpmn``): start, 8 script tasks, a user task, completed. In-process it is
the engine's work alone: three transactions through the ``Engine`` facade, as the web opens them (start
and complete write, the task list reads). Through HTTP it is the API's three calls to a ``kmop serve``
subprocess (werkzeug's threaded server, the embedded default), and the same to gunicorn as production
runs it, with a staff token, over one keep-alive connection each (``http.client``):
``POST /processes/http_flow/instances``, ``GET /tasks?case=…``, ``POST /tasks/<id>/complete``. The two
take turns flow by flow, on the same database; the ratio HTTP / in-process is the figure to watch. The
server's own time per call (from the request's first ``before_request`` to its response, read from its
``/metrics``) splits what HTTP adds into the application's part and the HTTP server's and client's part.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import DATA, Databases, deploy, median, say

FLOW = DATA / "http_flow.bpmn"
KEY = "http_flow"
CALLS = ("start", "tasks", "complete")
ROUTES = {
    "start": "/api/v1/processes/<key>/instances",
    "tasks": "/api/v1/tasks",
    "complete": "/api/v1/tasks/<task_id>/complete",
}
METRICS_TOKEN = "bench-metrics-token"
ROOT = Path(__file__).resolve().parent.parent

Record = dict[str, list[float]]


# ------------------------------------------------------------------------------------------ in-process


class InProcess:
    """The flow through the facade: one transaction per call, with the web's write intent."""

    def __init__(self, eng: Any) -> None:
        self.eng = eng

    def flow(self, record: Record, n: int) -> None:
        eng = self.eng
        t0 = time.perf_counter()
        with eng.transaction(write=True) as s:
            summary = eng.start(s, KEY, {"n": n}, actor="bench")
        t1 = time.perf_counter()
        with eng.transaction(write=False) as s:
            ready = [t.to_dict() for t in eng.tasks(s, instance_id=summary.id)]
        t2 = time.perf_counter()
        with eng.transaction(write=True) as s:
            done = eng.complete(s, ready[0]["id"], {}, actor="bench")
        t3 = time.perf_counter()
        if done.status != "completed":
            raise AssertionError(f"in-process flow ended {done.status}")
        _note(record, t0, t1, t2, t3)


# ---------------------------------------------------------------------------------------------- HTTP


class Http:
    """The flow through the API, on one keep-alive connection."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        payload = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != status:
            raise AssertionError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None

    def flow(self, record: Record, n: int) -> None:
        t0 = time.perf_counter()
        case = self.call("POST", f"/api/v1/processes/{KEY}/instances", {"data": {"n": n}}, 201)
        t1 = time.perf_counter()
        ready = self.call("GET", f"/api/v1/tasks?case={case['id']}")["tasks"]
        t2 = time.perf_counter()
        done = self.call("POST", f"/api/v1/tasks/{ready[0]['id']}/complete", {"data": {}})
        t3 = time.perf_counter()
        if done["case"]["status"] != "completed":
            raise AssertionError(f"HTTP flow ended {done['case']['status']}")
        _note(record, t0, t1, t2, t3)

    def server_seconds(self) -> dict[str, tuple[float, float]]:
        """The server's (sum of seconds, count) per call, from its request-duration histogram."""
        from prometheus_client.parser import text_string_to_metric_families

        self.conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        response = self.conn.getresponse()
        text = response.read().decode()
        if response.status != 200:
            raise AssertionError(f"/metrics: {response.status} {text[:200]}")
        found = {call: (0.0, 0.0) for call in CALLS}
        by_route = {route: call for call, route in ROUTES.items()}
        for family in text_string_to_metric_families(text):
            if family.name != "kmop_http_request_duration_seconds":
                continue
            for sample in family.samples:
                call = by_route.get(sample.labels.get("route", ""))
                if call is None or not sample.name.endswith(("_sum", "_count")):
                    continue
                total, count = found[call]
                if sample.name.endswith("_sum"):
                    found[call] = (total + sample.value, count)
                else:
                    found[call] = (total, count + sample.value)
        return found

    def close(self) -> None:
        self.conn.close()


def _note(record: Record, t0: float, t1: float, t2: float, t3: float) -> None:
    record["start"].append(t1 - t0)
    record["tasks"].append(t2 - t1)
    record["complete"].append(t3 - t2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(url: str, log: Path) -> Iterator[int]:
    """``kmop serve`` on ``url`` in a subprocess on a free port; stopped (SIGTERM) at the end."""
    port = _free_port()
    env = {
        **os.environ,
        "KMOP_DATABASE_URL": url,
        "KMOP_CLOCK": "system",
        "KMOP_METRICS_TOKEN": METRICS_TOKEN,
        "KMOP_SECRET_KEY": "bench-secret-key",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "web", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(proc, port, log)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def gunicorn(url: str, log: Path) -> Iterator[int]:
    """The production server: gunicorn (``web:create_app()``, one worker with 4 threads, keep-alive) on
    ``url`` on a free port, in a subprocess; stopped at the end."""
    port = _free_port()
    env = {
        **os.environ,
        "KMOP_DATABASE_URL": url,
        "KMOP_CLOCK": "system",
        "KMOP_SECRET_KEY": "bench-secret-key",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread",
        "--workers", "1", "--threads", "4", "web:create_app()",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(proc, port, log)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kmop serve ended ({proc.returncode}): {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.2)
    raise RuntimeError(f"kmop serve did not answer within 120 s: {log.read_text()[-2000:]}")


# ---------------------------------------------------------------------------------------- the section


def staff_token(eng: Any) -> str:
    """A token of an agency person (role ``vlaio``: acts on every task), made in the database."""
    from engine import clock
    from tasks import people

    with eng.transaction() as db:
        org = people.create_organisation(db, "Bench agency", "agency")
        person = people.create_person(
            db,
            username="bench.agent",
            name="Bench Agent",
            email="bench@x.example",
            password="bench-password-1",
            organisation=org,
            roles=("vlaio",),
            now=clock.now(),
        )
        return people.issue_token(db, person, "bench", clock.now())


def http_overhead(dbs: Databases, url: str, quick: bool = False) -> dict[str, Any]:
    """Run the flow in-process and through HTTP in interleaved rounds; per-flow and per-call figures."""
    rounds, per_round, warmup = (3, 10, 5) if quick else (10, 30, 20)
    eng = dbs.engine(url)
    deploy(eng, FLOW)
    token = staff_token(eng)
    with (
        server(url, dbs.tmp / f"serve_{_free_port()}.log") as port,
        gunicorn(url, dbs.tmp / f"gunicorn_{_free_port()}.log") as production,
    ):
        client = Http(port, token)
        behind_gunicorn = Http(production, token)
        try:
            runs: dict[str, Callable[[Record, int], None]] = {
                "in_process": InProcess(eng).flow,
                "http": client.flow,
                "gunicorn": behind_gunicorn.flow,
            }
            calls: dict[str, Record] = {label: {c: [] for c in CALLS} for label in runs}
            for flow in runs.values():
                for i in range(warmup):
                    flow({c: [] for c in CALLS}, i)
            before = client.server_seconds()
            per_flow: dict[str, list[float]] = {label: [] for label in runs}
            for _ in range(rounds):
                spent = dict.fromkeys(runs, 0.0)
                for i in range(per_round):  # flow by flow in turn: a change of load hits both alike
                    for label, flow in runs.items():
                        t0 = time.perf_counter()
                        flow(calls[label], i)
                        spent[label] += time.perf_counter() - t0
                for label in runs:
                    per_flow[label].append(spent[label] * 1000 / per_round)
            after = client.server_seconds()
        finally:
            client.close()
            behind_gunicorn.close()
    return _figures(rounds, per_round, per_flow, calls, before, after)


def _figures(
    rounds: int,
    per_round: int,
    per_flow: dict[str, list[float]],
    calls: dict[str, Record],
    before: dict[str, tuple[float, float]],
    after: dict[str, tuple[float, float]],
) -> dict[str, Any]:
    result: dict[str, Any] = {"rounds": rounds, "flows_per_round": per_round}
    for label, values in per_flow.items():
        result[label] = {
            "ms_per_flow": median(values),
            "rounds_ms": [round(v, 2) for v in values],
            "call_ms": {c: median(calls[label][c]) * 1000 for c in CALLS},
        }
    server_ms = {}
    for c in CALLS:
        seconds, count = after[c][0] - before[c][0], after[c][1] - before[c][1]
        server_ms[c] = seconds * 1000 / count if count else float("nan")
    result["http"]["server_call_ms"] = server_ms
    result["ratio"] = result["http"]["ms_per_flow"] / result["in_process"]["ms_per_flow"]
    if "gunicorn" in result:
        result["ratio_gunicorn"] = result["gunicorn"]["ms_per_flow"] / result["in_process"]["ms_per_flow"]
    return result


def print_http(title: str, res: dict[str, Any]) -> None:
    say(f"\n== 7. One flow (start, 8 scripts, user task) in-process and through HTTP, {title}")
    say(
        f"   {res['rounds']} rounds of {res['flows_per_round']} flows of each, in turn; per flow: median of "
        "rounds, per call: median of calls; server: mean time inside the application (its /metrics)"
    )
    inp, web = res["in_process"], res["http"]
    say(f"   {'':<12} {'in-process':>11} {'HTTP':>9} {'server':>9} {'added':>8}")
    for c in CALLS:
        say(
            f"   {c:<12} {inp['call_ms'][c]:8.2f} ms {web['call_ms'][c]:6.2f} ms "
            f"{web['server_call_ms'][c]:6.2f} ms {web['call_ms'][c] - inp['call_ms'][c]:+6.2f} ms"
        )
    say(f"   per flow     {inp['ms_per_flow']:8.2f} ms {web['ms_per_flow']:6.2f} ms")
    say(f"   rounds       in-process {inp['rounds_ms']}  HTTP {web['rounds_ms']}")
    say(f"   ratio HTTP / in-process = {res['ratio']:.2f}")
    if "gunicorn" in res:
        g = res["gunicorn"]
        calls = ", ".join(f"{c} {g['call_ms'][c]:.2f} ms" for c in CALLS)
        say(
            "   the same calls to gunicorn (production: gthread, 1 worker, 4 threads):"
            f" {g['ms_per_flow']:.2f} ms per flow ({calls});"
            f" ratio gunicorn / in-process = {res['ratio_gunicorn']:.2f}"
        )
