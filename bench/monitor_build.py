"""Build a monitor-sized database on PostgreSQL: N registration cases, 90 % ended, the rest waiting.

How: one registration runs through the real engine to each place a case can wait (the declaration, its check,
the choice of bureau, the audit report, the decision; the starter's and the conditional follow-up, the
renewal) and one is refused. Their saved rows are the models: every copy is made by ``INSERT ... SELECT``
over ``generate_series`` in the database, nothing row by row in Python.

Per 1,000 cases: 690 registered and ended (expired or stopped after their years in the renewal), 150
refused at the decision, 60 cancelled while the declaration was unsigned; waiting: 12 at the declaration,
10 at its check, 10 at the choice of bureau, 25 at the audit report, 8 at the decision, 5 in the starter's
follow-up, 5 in the conditional follow-up, 23 in the renewal, 2 in error (an open incident after the
decision). Ended cases ended in the last 5 years; a waiting case entered its wait up to its phase's
``elapsed`` days ago. Each case gets a closed stay (``element_stay``) per element it passed, with a
duration drawn from that element's range (the audit report 20-60 days, the renewal 30 days to 5 years),
its user tasks (completed or ready), its history (the model's rows), and while waiting its open stays,
timers (those that would have fired by now are left out, their stays closed) and message subscriptions.
Registered cases get a registration row (valid until, follow-up deadline) with its changes and their
e-mails (1 in 1,000 failed). The copies' per-task state rows are left out: no figure reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bench.lists import MODULES, enterprise_number

LIMITED = tuple(m for m in MODULES if m not in ("experience", "satisfaction"))
TASKS = ("sign_declaration", "check_declaration", "choose_bureau")
REPORT_BOUNDARIES = ("report_after_4_weeks", "report_after_6_weeks")
RENEWAL_BOUNDARIES = ("six_months_before", "three_months_before", "end_date", "renewal_requested")


@dataclass(frozen=True)
class Phase:
    """Where a copy is: the sample it copies, its status, how many per 1,000, and (waiting) how many days
    ago at most it entered its wait; ``waits``: its sample's open waits are copied."""

    name: str
    source: str
    status: str
    per_mille: int
    elapsed: float = 0.0
    waits: bool = True

    @property
    def ended(self) -> bool:
        return self.status in ("completed", "cancelled")


PHASES = (
    Phase("registered_ended", "renewal", "completed", 690, waits=False),
    Phase("refused", "refused", "completed", 150, waits=False),
    Phase("cancelled", "sign_declaration", "cancelled", 60, waits=False),
    Phase("sign_declaration", "sign_declaration", "waiting", 12, 30),
    Phase("check_declaration", "check_declaration", "waiting", 10, 20),
    Phase("choose_bureau", "choose_bureau", "waiting", 10, 30),
    Phase("wait_report", "wait_report", "waiting", 25, 75),
    Phase("decide", "decide", "waiting", 8, 20),
    Phase("starter_follow_up", "starter_follow_up", "waiting", 5, 700),
    Phase("conditional_follow_up", "conditional_follow_up", "waiting", 5, 170),
    Phase("renewal", "renewal", "waiting", 23, 1790),
    Phase("error", "decide", "error", 2, 30, waits=False),
)
assert sum(p.per_mille for p in PHASES) == 1000

# the elements a case passed before its phase: (element, its top element, kind, min days, max days)
STEPS = {
    "sign_declaration": ("sign_declaration", "task", 0.1, 10),
    "check_declaration": ("check_declaration", "task", 0.5, 8),
    "choose_bureau": ("choose_bureau", "task", 0.5, 15),
    "wait_report": ("wait_report", "message", 20, 60),
    "decide": ("decide", "task", 0.5, 12),
    "wait_renewal": ("renewal", "message", 30, 1825),
}
THROUGH_DECISION = (*TASKS, "wait_report", "decide")
PASSED = {
    "registered_ended": (*THROUGH_DECISION, "wait_renewal"),
    "refused": THROUGH_DECISION,
    "cancelled": ("sign_declaration",),
    "sign_declaration": (),
    "check_declaration": TASKS[:1],
    "choose_bureau": TASKS[:2],
    "wait_report": TASKS,
    "decide": (*TASKS, "wait_report"),
    "starter_follow_up": THROUGH_DECISION,
    "conditional_follow_up": THROUGH_DECISION,
    "renewal": THROUGH_DECISION,
    "error": THROUGH_DECISION,
}
TABLES = (
    "process_instance", "element_stay", "user_task", "wake_up", "message_subscription", "history",
    "instance_attribute", "incident", "registration", "registration_change", "outbox",
)  # fmt: skip
BOUNDARIES = {"wait_report": REPORT_BOUNDARIES, "wait_renewal": RENEWAL_BOUNDARIES}
NAMES = [
    "Acme",
    "Brabo",
    "Calibris",
    "Delta",
    "Eiland",
    "Fonteyn",
    "Gouden",
    "Horizon",
    "Ijzer",
    "Jade",
    "Kempen",
    "Leie",
    "Maas",
    "Noord",
    "Oost",
]  # fmt: skip
KINDS = ("Opleidingen", "Advies", "Consult", "Academie", "Partners", "Groep", "Studio", "Leren")


def samples(eng: Any) -> dict[str, int]:
    """One real registration per sample, run through the engine: the instance id of each."""
    found: dict[str, int] = {}
    for n, name in enumerate(
        (*TASKS, "wait_report", "decide", "starter_follow_up", "conditional_follow_up", "renewal", "refused")
    ):
        key = f"APP-2026-S{n:04d}"
        case = _start(eng, key, n, starter=name == "starter_follow_up")
        for element, data in (
            ("sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"}),
            ("check_declaration", {"decision": "approve"}),
            ("choose_bureau", {"audit_bureau": "dnv", "audit_hours": 12}),
        ):
            if element == name:
                break
            _complete(eng, case, element, data)
        else:
            if name != "wait_report":
                _report(eng, key, name)
            if name not in ("wait_report", "decide"):
                approve = {"decision": "approve"}
                refuse = {"decision": "reject", "decision_note": "Onvoldoende"}
                _complete(eng, case, "decide", refuse if name == "refused" else approve)
        found[name] = case
    return found


def _start(eng: Any, key: str, n: int, starter: bool) -> int:
    data = {
        "enterprise_number": enterprise_number(5_000_000 + n),
        "company_name": "Voorbeeld BV",
        "email": "info@voorbeeld.be",
        "iban": "BE48 0011 2345 6727",
        "bic": "GEBABEBB",
        "services": ["training"],
        "provider_type": "private",
        "starter": starter,
    }
    with eng.transaction() as s:
        return int(eng.start(s, "registration", data, business_key=key).id)


def _complete(eng: Any, case: int, element: str, data: dict[str, Any]) -> None:
    with eng.transaction() as s:
        task = next(t.id for t in eng.tasks(s, instance_id=case) if t.element_id == element)
        eng.complete(s, task, data, actor="bench")


def _report(eng: Any, key: str, phase: str) -> None:
    """The audit report: limited for the starter, with a G (conditional) for the conditional follow-up."""
    modules = LIMITED if phase == "starter_follow_up" else MODULES
    scores = {
        m: {"conformity": "G" if (m, phase) == ("knowledge", "conditional_follow_up") else "T",
            "demonstrability": "V"}
        for m in modules
    }  # fmt: skip
    audit = "limited" if phase == "starter_follow_up" else "full"
    payload = {"application_id": key, "report_id": f"R-{key}", "audit_type": audit, "scores": scores}
    with eng.transaction() as s:
        eng.message(s, "audit_report", None, payload)


def _values(rows: list[tuple[Any, ...]]) -> tuple[str, dict[str, Any]]:
    """A VALUES list with bound parameters."""
    params: dict[str, Any] = {}
    parts = []
    for i, row in enumerate(rows):
        names = []
        for j, value in enumerate(row):
            params[f"v{i}_{j}"] = value
            names.append(f":v{i}_{j}")
        parts.append("(" + ", ".join(names) + ")")
    return ", ".join(parts), params


def _run(conn: Any, sql: str, params: dict[str, Any] | None = None) -> None:
    """Run each statement of ``sql`` (separated by ``;`` at a line's end): a prepared statement holds one."""
    for statement in sql.split(";\n"):
        if statement.strip():
            conn.execute(text(statement), params or {})


def build(eng: Any, sample: dict[str, int], cases: int) -> dict[str, int]:
    """Copy the samples into ``cases`` cases (one transaction), then VACUUM ANALYZE; rows per table."""
    with eng.db.begin() as conn:
        first = int(conn.execute(text("SELECT max(id) FROM process_instance")).scalar() or 0) + 1
        conn.execute(text("SELECT setseed(0.42)"))
        _plan(conn, sample, cases, first)
        for statement in COPIES:
            _run(conn, statement, {"first": first})
        conn.execute(text("SELECT setval(pg_get_serial_sequence('process_instance', 'id'), max(id)) "
                          "FROM process_instance"))  # fmt: skip
    with eng.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0) for t in TABLES}


def _plan(conn: Any, sample: dict[str, int], cases: int, first: int) -> None:
    """The temporary tables the copies are made from: each case's phase, dates, names; its passed steps."""
    low, rows = 0, []
    for p in PHASES:
        rows.append((p.name, sample[p.source], p.status, low, low + p.per_mille, p.elapsed, p.waits, p.ended))
        low += p.per_mille
    values, params = _values(rows)
    _run(
        conn,
        "CREATE TEMP TABLE bench_phase (phase text, source int, status text, lo int, hi int, "
        f"elapsed float, waits bool, ended bool) ON COMMIT DROP;\nINSERT INTO bench_phase VALUES {values}",
        params,
    )
    path = [
        (phase, pos, element, *STEPS[element])
        for phase, elements in PASSED.items()
        for pos, element in enumerate(elements)
    ]
    values, params = _values(path)
    _run(
        conn,
        "CREATE TEMP TABLE bench_path (phase text, pos int, element_id text, top_element_id text, "
        f"kind text, lo float, hi float) ON COMMIT DROP;\nINSERT INTO bench_path VALUES {values}",
        params,
    )
    values, params = _values([(m, b) for m, bs in BOUNDARIES.items() for b in bs])
    _run(
        conn,
        "CREATE TEMP TABLE bench_boundary (element_id text, boundary text) ON COMMIT DROP;\n"
        f"INSERT INTO bench_boundary VALUES {values}",
        params,
    )
    names, kinds = (
        "ARRAY[" + ",".join(f"'{n}'" for n in NAMES) + "]",
        "ARRAY[" + ",".join(f"'{k}'" for k in KINDS) + "]",
    )
    _run(
        conn,
        f"""
        CREATE TEMP TABLE bench_case ON COMMIT DROP AS
        SELECT n, :first + n AS id, ph.*, random() AS r1, random() AS r2,
               ({names})[1 + n % {len(NAMES)}] || ' ' || ({kinds})[1 + (n / {len(NAMES)}) % {len(KINDS)}]
                   || ' ' || n || ' BV' AS company,
               lpad((10000000 + n)::text, 8, '0') || lpad((97 - (10000000 + n) % 97)::text, 2, '0') AS en
        FROM generate_series(0, :cases - 1) AS n
        JOIN bench_phase ph ON n % 1000 >= ph.lo AND n % 1000 < ph.hi;
        CREATE TEMP TABLE bench_step ON COMMIT DROP AS
        SELECT c.id, p.pos, p.element_id, p.top_element_id, p.kind,
               make_interval(secs => (p.lo + random() * (p.hi - p.lo)) * 86400) AS dur
        FROM bench_case c JOIN bench_path p ON p.phase = c.phase;
        ALTER TABLE bench_case ADD created_at timestamptz, ADD ended_at timestamptz, ADD open_at timestamptz,
            ADD key text;
        UPDATE bench_case SET
            ended_at = CASE WHEN ended THEN now() - make_interval(secs => r1 * 5 * 365 * 86400) END,
            open_at = CASE WHEN NOT ended THEN now() - make_interval(secs => r1 * elapsed * 86400) END;
        UPDATE bench_case SET created_at = coalesce(ended_at, open_at);
        UPDATE bench_case c SET created_at = c.created_at - t.total
        FROM (SELECT id, sum(dur) AS total FROM bench_step GROUP BY id) t WHERE t.id = c.id;
        UPDATE bench_case
        SET key = 'APP-' || extract(year FROM created_at) || '-' || lpad(upper(to_hex(n)), 6, '0');
        CREATE TEMP TABLE bench_stay ON COMMIT DROP AS
        SELECT s.id, s.pos, s.element_id, s.top_element_id, s.kind,
           c.created_at + sum(s.dur) OVER w - s.dur AS entered_at,
           c.created_at + sum(s.dur) OVER w AS left_at,
               extract(epoch FROM s.dur) AS seconds
        FROM bench_step s JOIN bench_case c USING (id) WINDOW w AS (PARTITION BY s.id ORDER BY s.pos);
        CREATE UNIQUE INDEX ON bench_case (id);
        CREATE INDEX ON bench_stay (id, element_id);
        ANALYZE bench_case;
        ANALYZE bench_stay
    """,
        {"first": first, "cases": cases},
    )


_TASK = "md5(c.id || '/' || {})::uuid::text"  # a fresh task id per case, the same in every table
COPIES = (
    # the instances: the sample's row with the case's own key, dates, status and search fields
    """INSERT INTO process_instance (id, process_version_id, process_key, business_key, status, skeleton,
            lock_version, started_by, created_at, updated_at, ended_at, search, due_at)
        SELECT c.id, i.process_version_id, i.process_key, c.key, c.status, i.skeleton, 0, i.started_by,
               c.created_at, coalesce(c.ended_at, c.open_at), c.ended_at,
           (i.search::jsonb
            || jsonb_build_object('company_name', c.company, 'enterprise_number', c.en))::json,
               NULL
        FROM bench_case c JOIN process_instance i ON i.id = c.source""",
    """INSERT INTO instance_attribute (instance_id, name, value)
        SELECT c.id, a.name, CASE a.name WHEN 'company_name' THEN c.company WHEN 'enterprise_number' THEN c.en
                                         ELSE a.value END
        FROM bench_case c JOIN instance_attribute a ON a.instance_id = c.source""",
    # the stays of the elements passed (closed), with the boundary events' beside the waits they guard
    f"""INSERT INTO element_stay (instance_id, process_key, process_version_id, task_id, element_id,
            top_element_id, kind, entered_at, left_at, seconds)
        SELECT c.id, 'registration', i.process_version_id,
           {_TASK.format("coalesce(b.boundary, s.element_id)")}, coalesce(b.boundary, s.element_id),
           CASE WHEN b.boundary IS NULL OR s.top_element_id <> s.element_id
                THEN s.top_element_id ELSE b.boundary END,
           CASE WHEN b.boundary IS NULL THEN s.kind ELSE 'boundary' END,
               s.entered_at, s.left_at, s.seconds
        FROM bench_stay s JOIN bench_case c USING (id) JOIN process_instance i ON i.id = c.source
        LEFT JOIN (SELECT element_id, boundary FROM bench_boundary UNION ALL
                   SELECT DISTINCT element_id, NULL FROM bench_boundary) b ON b.element_id = s.element_id""",
    # the open waits of the sample; a timer that would have fired by now has closed its stay
    f"""INSERT INTO element_stay (instance_id, process_key, process_version_id, task_id, element_id,
            top_element_id, kind, entered_at, left_at, seconds)
        SELECT c.id, st.process_key, st.process_version_id, {_TASK.format("st.task_id")}, st.element_id,
               st.top_element_id, st.kind, c.open_at, fired.at, extract(epoch FROM fired.at - c.open_at)
        FROM bench_case c JOIN element_stay st ON st.instance_id = c.source AND st.left_at IS NULL
        LEFT JOIN wake_up w ON w.instance_id = st.instance_id AND w.task_id = st.task_id
        CROSS JOIN LATERAL (SELECT CASE WHEN w.due_at + (c.open_at - st.entered_at) <= now()
                                   THEN w.due_at + (c.open_at - st.entered_at) END AS at) fired
        WHERE c.waits""",
    f"""INSERT INTO wake_up (instance_id, task_id, element_id, kind, due_at)
        SELECT c.id, {_TASK.format("w.task_id")}, w.element_id, w.kind, w.due_at + (c.open_at - st.entered_at)
        FROM bench_case c JOIN wake_up w ON w.instance_id = c.source
        JOIN element_stay st ON st.instance_id = w.instance_id AND st.task_id = w.task_id
        WHERE c.waits AND w.due_at + (c.open_at - st.entered_at) > now()""",
    f"""INSERT INTO message_subscription (instance_id, task_id, element_id, message_name, correlation_key,
            created_at)
        SELECT c.id, {_TASK.format("m.task_id")}, m.element_id, m.message_name, c.key, c.open_at
        FROM bench_case c JOIN message_subscription m ON m.instance_id = c.source WHERE c.waits""",
    # a user task per task stay: completed (cancelled) when the stay closed, ready while it is open
    """INSERT INTO user_task (id, instance_id, element_id, name, lane, form, status, created_at, due_at,
            claimed_by, completed_at, completed_by)
        SELECT st.task_id, st.instance_id, st.element_id, m.name, m.lane, m.form,
               CASE WHEN st.left_at IS NULL THEN 'ready' WHEN c.status = 'cancelled' THEN 'cancelled'
                    ELSE 'completed' END,
               st.entered_at, st.entered_at + m.due_after, NULL, st.left_at,
               CASE WHEN st.left_at IS NOT NULL THEN 'bench' END
        FROM element_stay st JOIN bench_case c ON c.id = st.instance_id
        JOIN (SELECT DISTINCT ON (element_id) element_id, name, lane, form, due_at - created_at AS due_after
              FROM user_task WHERE instance_id < :first) m ON m.element_id = st.element_id
        WHERE st.kind = 'task' AND st.instance_id >= :first""",
    """UPDATE process_instance i SET due_at = d.due
        FROM (SELECT instance_id, min(due) AS due FROM (
            SELECT instance_id, due_at AS due FROM user_task WHERE status = 'ready' AND instance_id >= :first
                UNION ALL SELECT instance_id, due_at FROM wake_up WHERE instance_id >= :first) x
              GROUP BY instance_id) d
        WHERE i.id = d.instance_id""",
    # the history: the sample's rows, at the same distance from the start
    """INSERT INTO history (instance_id, at, actor, event, element_id, detail)
        SELECT c.id, c.created_at + (h.at - i.created_at), h.actor, h.event, h.element_id, h.detail
        FROM bench_case c JOIN history h ON h.instance_id = c.source
        JOIN process_instance i ON i.id = c.source""",
    # the register: a registration per registered case, decided when its decision stay closed
    """INSERT INTO registration (number, application_id, enterprise_number, company_name, email, service,
           status,
            valid_from, valid_until, follow_up_deadline, created_at, updated_at)
        SELECT 'DV.B' || lpad(c.n::text, 7, '0'), c.key, c.en, c.company, 'info@bench.example', 'training',
               CASE c.phase WHEN 'renewal' THEN 'active' WHEN 'starter_follow_up' THEN 'provisional'
                    WHEN 'conditional_follow_up' THEN 'conditional'
                    ELSE CASE WHEN c.r2 < 0.7 THEN 'expired' ELSE 'stopped' END END,
               d.left_at::date,
               CASE WHEN c.ended THEN c.ended_at::date WHEN c.phase = 'starter_follow_up'
                THEN (d.left_at + interval '2 years')::date ELSE (d.left_at + interval '5 years')::date END,
               CASE WHEN c.phase = 'conditional_follow_up' THEN (d.left_at + interval '6 months')::date END,
               d.left_at, coalesce(c.ended_at, d.left_at)
        FROM bench_case c JOIN bench_stay d ON d.id = c.id AND d.element_id = 'decide'
        WHERE c.phase IN ('registered_ended', 'renewal', 'starter_follow_up', 'conditional_follow_up')""",
    """INSERT INTO registration_change (registration_id, at, on_date, status, valid_from, valid_until, reason,
           source)
        SELECT r.id, r.created_at, r.created_at::date,
           CASE WHEN r.status IN ('expired', 'stopped') THEN 'active'
               ELSE r.status END, r.valid_from, r.valid_until, 'registratie na beslissing', NULL
        FROM registration r WHERE r.number LIKE 'DV.B%'
        UNION ALL
        SELECT r.id, r.updated_at, r.updated_at::date, r.status, r.valid_from, r.valid_until, 'einde', NULL
        FROM registration r WHERE r.number LIKE 'DV.B%' AND r.status IN ('expired', 'stopped')""",
    """INSERT INTO outbox (idempotency_key, application_id, to_address, template, subject, body, created_at,
            sent_at, error, meta)
        SELECT 'bench/' || c.id, c.key, 'info@bench.example',
               CASE WHEN c.phase = 'refused' THEN 'application_refused' ELSE 'registered' END,
               'Uw aanvraag ' || c.key, repeat('Beste dienstverlener, ', 12), d.left_at,
               CASE WHEN c.n % 1000 = 7 THEN NULL ELSE d.left_at END,
           CASE WHEN c.n % 1000 = 7 THEN 'SMTPServerDisconnected: Connection unexpectedly closed' END, '{}'
        FROM bench_case c JOIN bench_stay d ON d.id = c.id AND d.element_id = 'decide'
        WHERE c.phase <> 'error'""",
    # incidents: open ones on the cases in error (two groups), resolved ones on 1 % of the ended cases
    """INSERT INTO incident (instance_id, task_id, element_id, error_type, message, attempts, status,
           created_at,
            resolved_at, resolved_by)
        SELECT c.id, md5(c.id || '/incident')::uuid::text,
               CASE WHEN c.n % 3 = 0 THEN 'notify_registered' ELSE 'register' END,
               CASE WHEN c.n % 3 = 0 THEN 'SMTPServerDisconnected' ELSE 'OperationalError' END,
               'the service failed after 3 attempts', 3,
               CASE WHEN c.status = 'error' THEN 'open' ELSE 'resolved' END, coalesce(c.open_at, c.ended_at),
           CASE WHEN c.status <> 'error' THEN c.ended_at END, CASE WHEN c.status <> 'error' THEN 'bench' END
        FROM bench_case c WHERE c.status = 'error' OR (c.ended AND c.r2 < 0.01)""",
)
