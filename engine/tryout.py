"""Try a draft before deploying it: a scratch database of its own, with its own simulated clock.

A try-out is an SQLite file under the instance folder (``instance/tryouts/<id>.db``) with the full
schema, the draft's files deployed in it together with every file of the latest deployed versions that the
draft does not replace (read from the live database, never written), and an ``Engine`` on it with the
same service registry as the live one: service tasks run for real, against the scratch database. The
scratch engine never installs its clock: every call into it runs inside ``clock.using(its clock)``, so
the live clock and the live database stay as they are.

What happened is kept beside the database (``<id>.json``): who tries which process, the instance, and
one step per action with the data after it. An analyst has at most one try-out per process; a try-out is
removed a day after it was made (in real time) or when the same analyst starts a new one of that process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from . import clock, drafts
from .api import Engine
from .config import PROJECT_ROOT
from .db import alembic_config, upgrade
from .errors import ClockError, InvalidInput, NotFound
from .models import ClockState, DefinitionFile, HistoryEntry, MessageSubscription, ProcessVersion
from .sources import SourceFile

DEFAULT_ROOT = PROJECT_ROOT / "instance" / "tryouts"
MAX_AGE = timedelta(days=1)
MAX_ADVANCE_YEARS = 20
ACTOR = "try-out"
_ID = re.compile(r"[0-9a-f]{32}")
_ISO_DURATION = re.compile(r"P(\d+W|(?!$)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?)")
# The history events that mean an element was passed (the path taken), in the order they happened.
_PASSED = ("task_completed", "user_task_completed", "message_received", "timer_fired")


# ------------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class Waiting:
    element_id: str
    name: str


@dataclass(frozen=True)
class OpenTask:
    id: str
    element_id: str
    name: str
    form: str | None
    schema: dict[str, Any] | None
    due_at: datetime | None


@dataclass(frozen=True)
class PendingTimer:
    element_id: str
    name: str
    kind: str  # timer | retry
    due_at: datetime


@dataclass(frozen=True)
class AwaitedMessage:
    name: str
    correlation_key: str | None
    element_id: str
    element_name: str


@dataclass(frozen=True)
class TryIncident:
    element_id: str
    name: str
    error_type: str
    message: str


@dataclass(frozen=True)
class Step:
    """One action and what came of it: ``kind`` start | complete | message | advance, ``detail`` what
    was asked, ``events`` what the engine did (history), ``data`` the case's data after it."""

    kind: str
    at: datetime  # simulated
    detail: dict[str, Any]
    events: list[dict[str, Any]]
    data: dict[str, Any]


@dataclass(frozen=True)
class TryoutState:
    id: str
    process_key: str
    owner: str | None
    now: datetime  # the try-out's simulated "now"
    steps: list[Step]
    names: dict[str, str]  # element id -> name, over the try-out's processes
    start_form: tuple[str | None, dict[str, Any] | None]  # (file name, JSON Schema)
    files: list[str]  # the draft's files
    business_key: str | None = None
    started: bool = False
    status: str | None = None  # of the instance: running | waiting | completed | error | ...
    path: list[str] = field(default_factory=list)  # element ids passed, in order
    completed: list[str] = field(default_factory=list)  # every element passed (also silent gateways)
    waiting: list[Waiting] = field(default_factory=list)
    tasks: list[OpenTask] = field(default_factory=list)
    timers: list[PendingTimer] = field(default_factory=list)
    messages: list[AwaitedMessage] = field(default_factory=list)
    incidents: list[TryIncident] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- files


def draft_sources(session: Session, process_key: str) -> list[SourceFile]:
    """The files of the draft of ``process_key``; without a draft, those of its latest version."""
    return list(drafts.draft(session, process_key).files)


def live_files(session: Session) -> list[SourceFile]:
    """Every file of the latest version of every deployed process (read only; newest content per name)."""
    latest: dict[str, ProcessVersion] = {}
    for pv in session.scalars(select(ProcessVersion)):
        if pv.process_key not in latest or pv.version > latest[pv.process_key].version:
            latest[pv.process_key] = pv
    ids = {i for pv in latest.values() for kind in ("bpmn", "dmn", "form") for i in pv.file_ids.get(kind, [])}
    by_name: dict[str, SourceFile] = {}
    if ids:
        query = select(DefinitionFile).where(DefinitionFile.id.in_(ids)).order_by(DefinitionFile.id)
        for f in session.scalars(query):
            by_name[f.name] = SourceFile(f.name, f.content)
    return list(by_name.values())


def provides(source: SourceFile) -> set[str]:
    """The process and decision ids a BPMN or DMN file defines (none for a form or broken XML)."""
    if source.kind == "form":
        return set()
    try:
        root = etree.fromstring(source.content.encode("utf-8"))
    except etree.XMLSyntaxError:
        return set()
    wanted = ("process",) if source.kind == "bpmn" else ("decision",)
    return {
        str(node.get("id"))
        for node in root.iter()
        if isinstance(node.tag, str) and etree.QName(node).localname in wanted and node.get("id")
    }


def merged(draft: list[SourceFile], live: list[SourceFile]) -> list[SourceFile]:
    """The draft's files, and every live file the draft does not replace (by name or by what it defines)."""
    names = {s.name for s in draft}
    defined: set[str] = set().union(*(provides(s) for s in draft)) if draft else set()
    return [*draft, *(f for f in live if f.name not in names and not provides(f) & defined)]


# ------------------------------------------------------------------------------------------ try-out


class Tryout:
    """One try-out: its scratch engine (on its own clock) and what happened in it so far."""

    def __init__(self, root: Path, meta: dict[str, Any], engine: Engine) -> None:
        self.root = root
        self.meta = meta
        self.engine = engine

    # ---------------------------------------------------------------------------- make, find, drop

    @classmethod
    def create(
        cls,
        live_engine: Engine,
        live_session: Session,
        process_key: str,
        sources: list[SourceFile],
        *,
        owner: str | None = None,
        root: Path | None = None,
    ) -> str:
        """Make a try-out of ``sources`` (a draft of ``process_key``); return its id.

        Raises ``DeploymentError`` when the draft (with the live files it needs) cannot be deployed.
        """
        root = root or DEFAULT_ROOT
        root.mkdir(parents=True, exist_ok=True)
        cleanup(root)
        if owner is not None:
            for old in _metas(root):
                if old.get("owner") == owner and old.get("process_key") == process_key:
                    discard(old["id"], root)
        files = merged(sources, live_files(live_session))
        start_at = _live_now(live_engine, live_session).replace(microsecond=0)
        tryout_id = uuid.uuid4().hex
        _copy_schema(root, _db_path(root, tryout_id))
        meta: dict[str, Any] = {
            "id": tryout_id,
            "owner": owner,
            "process_key": process_key,
            "created": time.time(),
            "files": sorted(s.name for s in sources),
            "instance_id": None,
            "business_key": None,
            "history_seen": 0,
            "steps": [],
        }
        engine = _scratch_engine(live_engine, root, tryout_id)
        try:
            with engine.db.begin() as conn:
                conn.execute(insert(ClockState).values(id=1, now=start_at))
            with clock.using(engine.clock), engine.transaction(write=True) as db:
                engine.deploy_sources(db, files, actor=owner or ACTOR)
        except BaseException:
            engine.close()
            discard(tryout_id, root)
            raise
        engine.close()
        _write_meta(root, meta)
        return tryout_id

    @classmethod
    def open(cls, tryout_id: str, live_engine: Engine, root: Path | None = None) -> Tryout:
        """Open a try-out made by ``create`` (NotFound when it is gone); ``close`` it after use."""
        root = root or DEFAULT_ROOT
        meta = _read_meta(root, tryout_id)
        if meta is None or not _db_path(root, tryout_id).exists():
            raise NotFound(f"no try-out {tryout_id} (it may have been cleaned up)")
        return cls(root, meta, _scratch_engine(live_engine, root, tryout_id))

    @staticmethod
    def find(owner: str | None, process_key: str, root: Path | None = None) -> str | None:
        """The id of ``owner``'s try-out of ``process_key``, if one is kept."""
        for meta in _metas(root or DEFAULT_ROOT):
            if meta.get("owner") == owner and meta.get("process_key") == process_key:
                return str(meta["id"])
        return None

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def process_key(self) -> str:
        return str(self.meta["process_key"])

    @property
    def owner(self) -> str | None:
        owner = self.meta.get("owner")
        return str(owner) if owner is not None else None

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Tryout:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _session(self, write: bool = True) -> Iterator[Session]:
        """A transaction on the scratch database, on the scratch clock."""
        with clock.using(self.engine.clock), self.engine.transaction(write=write) as db:
            yield db

    # ---------------------------------------------------------------------------------- actions

    def start(self, data: dict[str, Any], business_key: str | None = None, actor: str | None = None) -> int:
        """Start the process with the start form's ``data``; return the scratch instance id."""
        if self.meta.get("instance_id") is not None:
            raise InvalidInput("this try-out has started already; start a new try-out to begin again")
        key = (business_key or "").strip() or None
        with self._session() as db:
            summary = self.engine.start(db, self.process_key, data, business_key=key, actor=actor or ACTOR)
        self.meta["instance_id"], self.meta["business_key"] = summary.id, key
        self._record("start", {"data": data, "business_key": key})
        return summary.id

    def complete(self, task_id: str, data: dict[str, Any], actor: str | None = None) -> None:
        """Complete an open user task of the try-out with its form's ``data``."""
        with self._session() as db:
            task = self.engine.task(db, task_id)
            self.engine.complete(db, task_id, data, actor=actor or ACTOR)
        self._record("complete", {"task": task.name, "element_id": task.element_id, "data": data})

    def message(
        self, name: str, key: str | None, payload: dict[str, Any] | None = None, actor: str | None = None
    ) -> str:
        """Send a message to the try-out (name, correlation key, payload); return how it went."""
        key = (key or "").strip() or None
        with self._session() as db:
            result = self.engine.message(db, name.strip(), key, payload or {}, actor=actor or ACTOR)
        self._record("message", {"name": name, "key": key, "payload": payload or {}, "status": result.status})
        return result.status

    def advance(self, duration: str) -> int:
        """Move the try-out's clock on by an ISO 8601 duration (``P3W``) and fire every timer that falls
        due on the way, each at its own moment (as the worker would); return how many instances woke."""
        with clock.using(self.engine.clock):
            before = clock.now()
            text, target = parse_advance(duration, before)
            woken = self.engine.advance_clock(target)
        self._record(
            "advance",
            {"duration": text, "from": before.isoformat(), "to": target.isoformat(), "woken": woken},
        )
        return woken

    # ------------------------------------------------------------------------------------ reading

    def state(self) -> TryoutState:
        """Where the try-out is: path taken, where it waits, open tasks, timers, messages, steps."""
        with self._session(write=False) as db:
            now = clock.now()
            names = self.engine.element_names(db)
            start_form = self.engine.start_form(db, self.process_key)
            instance_id = self.meta.get("instance_id")
            base = TryoutState(
                id=self.id,
                process_key=self.process_key,
                owner=self.owner,
                now=now,
                steps=[_step(s) for s in self.meta.get("steps", [])],
                names=names,
                start_form=start_form,
                files=list(self.meta.get("files", [])),
                business_key=self.meta.get("business_key"),
            )
            if instance_id is None:
                return base
            detail = self.engine.show(db, instance_id)
            tasks = [
                OpenTask(t.id, t.element_id, t.name, t.form, self.engine.task_form(db, t.id)[1], t.due_at)
                for t in detail.ready_tasks
            ]
            subs = db.scalars(select(MessageSubscription).order_by(MessageSubscription.id)).all()
            return replace(
                base,
                started=True,
                status=detail.status,
                path=self._path(db, instance_id),
                completed=detail.completed_elements,
                waiting=[Waiting(e, names.get(e, e)) for e in detail.active_elements],
                tasks=tasks,
                timers=[
                    PendingTimer(w.element_id, names.get(w.element_id, w.element_id), w.kind, w.due_at)
                    for w in self.engine.timers(db)
                ],
                messages=[
                    AwaitedMessage(
                        s.message_name, s.correlation_key, s.element_id, names.get(s.element_id, "")
                    )
                    for s in subs
                ],
                incidents=[
                    TryIncident(i.element_id, names.get(i.element_id, i.element_id), i.error_type, i.message)
                    for i in self.engine.incidents(db)
                ],
                data=detail.data,
            )

    def diagram(self) -> str:
        """The BPMN XML of the tried process, as deployed in the try-out."""
        with self._session(write=False) as db:
            pv = drafts.latest(db, self.process_key)
            return drafts.main_file(drafts.version_files(db, pv), self.process_key).content

    def _path(self, db: Session, instance_id: int) -> list[str]:
        path: list[str] = []
        for element in db.scalars(
            select(HistoryEntry.element_id)
            .where(HistoryEntry.instance_id == instance_id, HistoryEntry.event.in_(_PASSED))
            .order_by(HistoryEntry.id)
        ):
            if element and (not path or path[-1] != element):
                path.append(element)
        return path

    def _record(self, kind: str, detail: dict[str, Any]) -> None:
        """Keep a step: what was asked, what the engine did since the last step, the data after it."""
        instance_id = self.meta.get("instance_id")
        with self._session(write=False) as db:
            at = clock.now()
            names = self.engine.element_names(db)
            seen = int(self.meta.get("history_seen", 0))
            rows = db.scalars(
                select(HistoryEntry).where(HistoryEntry.id > seen).order_by(HistoryEntry.id)
            ).all()
            events = [
                {
                    "event": h.event,
                    "element_id": h.element_id,
                    "name": names.get(h.element_id or "", h.element_id),
                    "at": h.at.isoformat(),
                    "instance_id": h.instance_id,
                    "detail": h.detail,
                }
                for h in rows
            ]
            data = self.engine.show(db, instance_id).data if instance_id is not None else {}
        if rows:
            self.meta["history_seen"] = rows[-1].id
        step = {"kind": kind, "at": at.isoformat(), "detail": detail, "events": events, "data": data}
        self.meta.setdefault("steps", []).append(json.loads(json.dumps(step, default=str)))
        _write_meta(self.root, self.meta)


class BadDuration(InvalidInput):
    """A clock jump the try-out refuses; ``reason``: format | zero | too_long."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, "duration")
        self.reason = reason


def parse_advance(duration: str, now: datetime) -> tuple[str, datetime]:
    """Check a clock jump (ISO 8601 duration, weeks alone or years to seconds); return it in capitals and
    the moment it leads to from ``now``; raise ``BadDuration`` saying what is wrong."""
    text = (duration or "").strip().upper()
    if not _ISO_DURATION.fullmatch(text):
        raise BadDuration(
            f"'{duration}' is not an ISO 8601 duration: write it like P4W, P3D, P1M or PT2H", "format"
        )
    try:
        with clock.pinned(now):
            target = now + clock.parse_duration(text)
    except (ClockError, ValueError, OverflowError) as exc:
        raise BadDuration(f"'{duration}' is not a duration the clock can move by", "too_long") from exc
    if target <= now:
        raise BadDuration("give a duration longer than zero, like P4W", "zero")
    if target - now > timedelta(days=366 * MAX_ADVANCE_YEARS):
        raise BadDuration(f"move the clock at most {MAX_ADVANCE_YEARS} years at once", "too_long")
    return text, target


def _step(raw: dict[str, Any]) -> Step:
    return Step(raw["kind"], datetime.fromisoformat(raw["at"]), raw["detail"], raw["events"], raw["data"])


def state_dict(state: TryoutState) -> dict[str, Any]:
    """The state as plain JSON-ready values (dates as ISO text)."""
    return json.loads(json.dumps(asdict(state), default=lambda v: v.isoformat()))  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------- the scratch


def _db_path(root: Path, tryout_id: str) -> Path:
    if not _ID.fullmatch(tryout_id or ""):
        raise NotFound(f"no try-out {tryout_id!r}")
    return root / f"{tryout_id}.db"


def _meta_path(root: Path, tryout_id: str) -> Path:
    return _db_path(root, tryout_id).with_suffix(".json")


def _scratch_engine(live_engine: Engine, root: Path, tryout_id: str) -> Engine:
    settings = replace(
        live_engine.settings, database_url=f"sqlite:///{_db_path(root, tryout_id)}", clock="simulated"
    )
    return Engine(settings, live_engine.registry, install_clock=False)


def _live_now(live_engine: Engine, live_session: Session) -> datetime:
    """The live "now", read without writing (a simulated clock that was never read is the real time)."""
    if not live_engine.clock.simulated:
        return datetime.now(UTC)
    value = live_session.scalar(select(ClockState.now).where(ClockState.id == 1))
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _copy_schema(root: Path, target: Path) -> None:
    """Give ``target`` the full schema: a copy of a migrated template kept per schema revision."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    template = root / f"_schema-{head}.sqlite3"
    if not template.exists():
        building = root / f"_building-{uuid.uuid4().hex}.sqlite3"
        upgrade(f"sqlite:///{building}")
        with contextlib.closing(sqlite3.connect(building)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
        os.replace(building, template)
        for stale in root.glob("_schema-*.sqlite3"):
            if stale != template:
                stale.unlink(missing_ok=True)
        for leftover in root.glob("_building-*"):
            # Another process may be building its own copy right now: only an old leftover is removed.
            with contextlib.suppress(FileNotFoundError):
                if time.time() - leftover.stat().st_mtime > 3600:
                    leftover.unlink(missing_ok=True)
    with (
        contextlib.closing(sqlite3.connect(template)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def _write_meta(root: Path, meta: dict[str, Any]) -> None:
    path = _meta_path(root, meta["id"])
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(meta, default=str), encoding="utf-8")
    os.replace(temporary, path)


def _read_meta(root: Path, tryout_id: str) -> dict[str, Any] | None:
    try:
        meta: dict[str, Any] = json.loads(_meta_path(root, tryout_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta


def _metas(root: Path) -> list[dict[str, Any]]:
    if not root.is_dir():
        return []
    found = [_read_meta(root, p.stem) for p in root.glob("*.json") if _ID.fullmatch(p.stem)]
    return [m for m in found if m is not None]


def discard(tryout_id: str, root: Path | None = None) -> None:
    """Remove a try-out: its database and what was kept of it."""
    root = root or DEFAULT_ROOT
    base = _db_path(root, tryout_id)
    for path in (
        base,
        _meta_path(root, tryout_id),
        *(Path(f"{base}{s}") for s in ("-wal", "-shm", "-journal")),
    ):
        path.unlink(missing_ok=True)


def cleanup(root: Path | None = None, max_age: timedelta = MAX_AGE) -> int:
    """Remove the try-outs made longer than ``max_age`` ago (real time), and leftovers; return how many."""
    root = root or DEFAULT_ROOT
    if not root.is_dir():
        return 0
    oldest = time.time() - max_age.total_seconds()
    removed = 0
    for path in root.glob("*.db"):
        if not _ID.fullmatch(path.stem):
            continue
        meta = _read_meta(root, path.stem)
        made = float(meta.get("created", 0)) if meta else path.stat().st_mtime
        if made < oldest:
            discard(path.stem, root)
            removed += 1
    for meta_path in root.glob("*.json"):  # kept steps without a database
        if _ID.fullmatch(meta_path.stem) and not meta_path.with_suffix(".db").exists():
            meta_path.unlink(missing_ok=True)
    return removed
