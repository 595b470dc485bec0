"""Section 5: the staff's lists on a large database: the task list and the case list, page by page.

How the cases are made: a few registrations run through the real engine to each phase a case can be in
(waiting for the declaration, its check, the choice of bureau, the audit report, the decision; registered;
refused). Their saved rows (the instance with its stored state skeleton, its search fields, its ready user
tasks, timers and message subscriptions) are then copied in bulk with fresh ids, keys, company names,
enterprise numbers and dates spread over the past (PostgreSQL: COPY; SQLite: executemany). The copies'
per-task state rows and history are left out: the lists never read them. Then the tables are analysed,
as autovacuum would have done on a live database.

Each page is fetched through the web application (logged in as agency staff, templates rendered), and its
p95 compared with two baselines measured in the same run: a ``select 1`` round trip and a primary-key fetch
through the engine's session, and the plain log-in page (Flask and templates without the database).
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from bench.common import Databases, percentile, say

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NAMES = (
    "Acme", "Brabo", "Calibris", "Delta", "Eiland", "Fonteyn", "Gouden", "Horizon", "Ijzer", "Jade",
    "Kempen", "Leie", "Maas", "Noord", "Oost", "Polder", "Quadrant", "Rivier", "Schelde", "Toren",
)  # fmt: skip
KINDS = ("Opleidingen", "Advies", "Consult", "Academie", "Partners", "Groep", "Studio", "Leren")
# phase: how many copies per 100 cases
MIX = {
    "sign_declaration": 10,
    "check_declaration": 6,
    "choose_bureau": 6,
    "wait_report": 12,
    "decide": 6,
    "registered": 54,
    "refused": 6,
}
MODULES = ("activity", "experience", "satisfaction", "knowledge", "integrity")
TABLES = ("process_instance", "instance_attribute", "user_task", "wake_up", "message_subscription")


def enterprise_number(n: int) -> str:
    """A valid enterprise number for copy ``n``: 8 digits from 1 and their check digits."""
    first = f"{10_000_000 + n:08d}"
    return first + f"{97 - int(first) % 97:02d}"


def _sample(eng: Any) -> dict[str, int]:
    """One real case per phase, run through the engine; the instance id of each."""

    def start(key: str, n: int) -> int:
        data = {
            "enterprise_number": enterprise_number(5_000_000 + n),
            "company_name": "Voorbeeld BV",
            "email": "info@voorbeeld.be",
            "iban": "BE48 0011 2345 6727",
            "bic": "GEBABEBB",
            "services": ["training"],
            "provider_type": "private",
            "starter": False,
        }
        with eng.transaction() as s:
            return int(eng.start(s, "registration", data, business_key=key).id)

    def complete(case: int, element: str, data: dict[str, Any]) -> None:
        with eng.transaction() as s:
            task = next(t.id for t in eng.tasks(s, instance_id=case) if t.element_id == element)
            eng.complete(s, task, data, actor="bench")

    def report(key: str) -> None:
        scores = {m: {"conformity": "T", "demonstrability": "V"} for m in MODULES}
        payload = {"application_id": key, "report_id": f"R-{key}", "audit_type": "full", "scores": scores}
        with eng.transaction() as s:
            eng.message(s, "audit_report", None, payload)

    steps: list[tuple[str, dict[str, Any]]] = [
        ("sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"}),
        ("check_declaration", {"decision": "approve"}),
        ("choose_bureau", {"audit_bureau": "dnv", "audit_hours": 12}),
    ]
    found: dict[str, int] = {}
    for n, phase in enumerate(MIX):
        key = f"APP-2026-F{n:05X}"
        case = start(key, n)
        for element, data in steps:
            if element == phase:
                break
            complete(case, element, data)
        else:
            if phase != "wait_report":
                report(key)
                if phase == "registered":
                    complete(case, "decide", {"decision": "approve"})
                elif phase == "refused":
                    complete(case, "decide", {"decision": "reject", "decision_note": "Onvoldoende"})
        found[phase] = case
    return found


def _rows(conn: Any, table: str, column: str, ids: list[int]) -> list[dict[str, Any]]:
    from engine.models import Base

    found = Base.metadata.tables[table]
    return [dict(r._mapping) for r in conn.execute(select(found).where(found.c[column].in_(ids)))]


def _copies(eng: Any, sample: dict[str, int], cases: int) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``cases`` copies of the sample cases, per table."""
    rng = random.Random(7)
    ids = list(sample.values())
    with eng.db.connect() as conn:
        taken = {t: _rows(conn, t, "id" if t == "process_instance" else "instance_id", ids) for t in TABLES}
        first = int(conn.execute(text("SELECT MAX(id) FROM process_instance")).scalar() or 0) + 1
        next_ids = {
            t: int(conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {t}")).scalar() or 0) + 1
            for t in ("wake_up", "message_subscription")
        }
    by_case = {
        t: {i: [r for r in rows if r.get("instance_id", r.get("id")) == i] for i in ids}
        for t, rows in taken.items()
    }
    phases = [p for p, n in MIX.items() for _ in range(n)]
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for n in range(cases):
        phase = phases[n % len(phases)]
        source = sample[phase]
        new_id = first + n
        ended = phase in ("registered", "refused")
        # open cases began in the last 60 days, ended ones in the last 3 years: shift every date alike
        age = timedelta(days=rng.uniform(0, 1095 if ended else 60))
        [inst] = by_case["process_instance"][source]
        shift = (START - age) - inst["created_at"].replace(tzinfo=UTC) if inst["created_at"] else timedelta()
        key = f"APP-{2023 + n % 4}-{n:06X}"
        name = f"{rng.choice(NAMES)} {rng.choice(KINDS)} {n} BV"
        out["process_instance"].append(
            {**_shifted(inst, shift), "id": new_id, "business_key": key, "search": _search(inst, name, n)}
        )
        for attr in by_case["instance_attribute"][source]:
            value = {"company_name": name, "enterprise_number": enterprise_number(n)}.get(
                attr["name"], attr["value"]
            )
            out["instance_attribute"].append({**attr, "instance_id": new_id, "value": value})
        if not any(a["name"] == "company_name" for a in by_case["instance_attribute"][source]):
            out["instance_attribute"].append({"instance_id": new_id, "name": "company_name", "value": name})
        for task in by_case["user_task"][source]:
            out["user_task"].append({**_shifted(task, shift), "id": str(uuid.uuid4()), "instance_id": new_id})
        for table in ("wake_up", "message_subscription"):
            for row in by_case[table][source]:
                copy = {**_shifted(row, shift), "id": next_ids[table], "instance_id": new_id}
                if table == "message_subscription":
                    copy["correlation_key"] = key
                next_ids[table] += 1
                out[table].append(copy)
    return out


def _shifted(row: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    return {
        k: (v.replace(tzinfo=v.tzinfo or UTC) + shift if isinstance(v, datetime) else v)
        for k, v in row.items()
    }


def _search(inst: dict[str, Any], name: str, n: int) -> Any:
    search = inst["search"]
    if isinstance(search, str):
        import json

        search = json.loads(search)
    search = {**(search or {}), "company_name": name, "enterprise_number": enterprise_number(n)}
    return search


def _insert(eng: Any, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Insert the copies: COPY on PostgreSQL, executemany elsewhere."""
    from engine.models import Base

    if eng.db.dialect.name != "postgresql":
        with eng.db.begin() as conn:
            for table in TABLES:
                if rows[table]:
                    conn.execute(insert(Base.metadata.tables[table]), rows[table])
        return
    import json

    raw = eng.db.raw_connection()
    try:
        cur = raw.cursor()
        for table in TABLES:
            if not rows[table]:
                continue
            columns = list(rows[table][0])
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows[table]:
                    copy.write_row(
                        [json.dumps(v) if isinstance(v, dict) else v for v in (row[c] for c in columns)]
                    )
        for table in ("wake_up", "message_subscription", "process_instance"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            )
        raw.commit()
    finally:
        raw.close()


def _analyse(eng: Any) -> None:
    if eng.db.dialect.name == "postgresql":
        with eng.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with eng.db.begin() as conn:
            conn.execute(text("ANALYZE"))


def _client(eng: Any) -> Any:
    """A logged-in agency client of the web application on ``eng``."""
    from engine import clock
    from tasks import people
    from web import create_app

    with eng.transaction() as db:
        org = people.create_organisation(db, "VLAIO", "agency")
        people.create_person(
            db, username="bench.vlaio", name="Bench", email="bench@x.example", password="geheim-123",
            organisation=org, roles=("vlaio",), now=clock.now(),
        )  # fmt: skip
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False}, engine=eng)
    client = app.test_client()
    client.post("/login", data={"username": "bench.vlaio", "password": "geheim-123"})
    return client


def _timed(call: Any, rounds: int) -> tuple[float, float]:
    """(p50, p95) in ms of ``rounds`` calls after one warm-up."""
    call()
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return percentile(samples, 50), percentile(samples, 95)


def _p95(call: Any, rounds: int) -> float:
    return _timed(call, rounds)[1]


def pages(dbs: Databases, url: str, cases: int, rounds: int) -> dict[str, Any]:
    """Build ``cases`` cases on ``url`` and measure the list pages' p95 against the baselines."""
    from engine.api import Engine
    from engine.config import PROJECT_ROOT, Settings
    from engine.models import ProcessInstance
    from tasks.registry import default_registry

    eng = Engine(Settings.from_env({}, database_url=url, clock="system"), registry=default_registry())
    dbs.engines.append(eng)
    eng.init_db()
    with eng.transaction() as s:
        eng.deploy(s, [PROJECT_ROOT / "bpmn"])
    began = time.perf_counter()
    sample = _sample(eng)
    sampled = time.perf_counter() - began
    rows = _copies(eng, sample, cases)
    _insert(eng, rows)
    _analyse(eng)
    built = time.perf_counter() - began
    client = _client(eng)
    middle = cases // 2

    def get(path: str) -> Any:
        def call() -> None:
            response = client.get(path)
            if response.status_code != 200:
                raise AssertionError(f"{path}: {response.status_code}")

        return call

    def select_one() -> None:
        with eng.transaction(write=False) as s:
            s.execute(text("select 1"))

    def by_key() -> None:
        with eng.transaction(write=False) as s:
            s.scalar(select(ProcessInstance.status).where(ProcessInstance.id == middle))

    deep = max(1, cases // 25 // 2)
    typed = enterprise_number(middle)
    spaced = f"{typed[:4]} {typed[4:7]} {typed[7:]}"  # BE 1005 000 012: as people write it
    name = f"{NAMES[3]} {KINDS[1]}"
    figures: dict[str, Any] = {
        "cases": cases + len(sample),
        "ready_tasks": sum(1 for t in rows["user_task"] if t["status"] == "ready"),
        "build_s": built,
        "sample_s": sampled,
        "baseline_select_1_ms": _p95(select_one, rounds),
        "baseline_primary_key_ms": _p95(by_key, rounds),
        "baseline_login_page_ms": _p95(get("/login"), rounds),
    }
    wanted = {
        "tasks_first_page": "/vlaio/?lane=alle",
        "tasks_agency_lane": "/vlaio/",
        "tasks_search_name": f"/vlaio/?lane=alle&q={name}",
        "tasks_search_enterprise": f"/vlaio/?lane=alle&q=BE {spaced}",
        "tasks_sort_due_desc": "/vlaio/?lane=alle&sort=due&dir=desc",
        "tasks_sort_company": "/vlaio/?lane=alle&sort=company&dir=asc",
        "tasks_overdue": "/vlaio/?lane=alle&overdue=1",
        "tasks_deep_page": f"/vlaio/?lane=alle&page={max(1, figures['ready_tasks'] // 25 // 2)}",
        "cases_first_page": "/dossiers/",
        "cases_search_name": f"/dossiers/?q={name}",
        "cases_search_key": f"/dossiers/?q=APP-{2023 + middle % 4}-{middle:06X}",
        "cases_sort_due": "/dossiers/?sort=due&dir=asc",
        "cases_sort_company": "/dossiers/?sort=company&dir=asc",
        "cases_search_sort_company": f"/dossiers/?q={name}&sort=company&dir=desc",
        "cases_overdue": "/dossiers/?overdue=1",
        "cases_deep_page": f"/dossiers/?page={deep}",
    }
    for label, path in wanted.items():
        figures[f"{label}_p50"], figures[f"{label}_ms"] = _timed(get(path), rounds)
    return figures


def print_lists(backend: str, f: dict[str, Any], target_ms: float = 50.0) -> None:
    say(
        f"\n== 5. Lists ({backend}): {f['cases']:,} cases, {f['ready_tasks']:,} ready tasks; built in "
        f"{f['build_s']:.0f} s (real engine runs {f['sample_s']:.1f} s, the rest bulk copies)"
    )
    base, pk, login = f["baseline_select_1_ms"], f["baseline_primary_key_ms"], f["baseline_login_page_ms"]
    say(
        f"   baselines p95: select 1 {base:.2f} ms, primary-key fetch {pk:.2f} ms, log-in page {login:.2f} ms"
    )
    for key, value in f.items():
        if key.endswith("_ms") and not key.startswith("baseline"):
            verdict = "ok" if value <= target_ms else "OVER"
            say(
                f"   {key[:-3]:<26} p50 {f[key[:-3] + '_p50']:7.1f} ms, p95 {value:7.1f} ms"
                f" = {value / pk:5.0f}x primary key, "
                f"{value / login:5.1f}x log-in page  [{verdict} <= {target_ms:.0f} ms]"
            )
