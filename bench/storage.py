"""Section 2 of the benchmark: stored bytes per instance (SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from bench.common import TEN_TASKS, USER_WAIT, Databases, Sizes, deploy, kmop_runner_for, say

# ---------------------------------------------------------------------------------- 2. storage


def payload_bytes(session: Session, process_key: str) -> dict[str, Any]:
    """Bytes of stored text per instance of ``process_key``, by table (columns that carry content)."""
    from engine.models import HistoryEntry, InstanceTaskState, ProcessInstance, UserTask, WakeUp

    ids = select(ProcessInstance.id).where(ProcessInstance.process_key == process_key)
    n = session.scalar(select(func.count()).where(ProcessInstance.process_key == process_key)) or 0

    def one(stmt: Any) -> int:
        return int(session.scalar(stmt) or 0)

    length = func.length
    of_key = ProcessInstance.process_key == process_key
    in_tasks = InstanceTaskState.instance_id.in_(ids)
    skeleton = one(select(func.sum(length(ProcessInstance.skeleton))).where(of_key))
    task_rows = one(select(func.count()).select_from(InstanceTaskState).where(in_tasks))
    task_bytes = one(select(func.sum(length(InstanceTaskState.body))).where(in_tasks))
    hist_rows = one(select(func.count()).select_from(HistoryEntry).where(HistoryEntry.instance_id.in_(ids)))
    hist_bytes = one(
        select(
            func.sum(
                length(cast(HistoryEntry.detail, Text))
                + length(HistoryEntry.event)
                + func.coalesce(length(HistoryEntry.element_id), 0)
                + func.coalesce(length(HistoryEntry.actor), 0)
            )
        ).where(HistoryEntry.instance_id.in_(ids))
    )
    ut_rows = one(select(func.count()).select_from(UserTask).where(UserTask.instance_id.in_(ids)))
    ut_bytes = one(
        select(
            func.sum(
                length(UserTask.id)
                + length(UserTask.element_id)
                + length(UserTask.name)
                + length(UserTask.status)
                + func.coalesce(length(UserTask.lane), 0)
                + func.coalesce(length(UserTask.form), 0)
            )
        ).where(UserTask.instance_id.in_(ids))
    )
    wk_rows = one(select(func.count()).select_from(WakeUp).where(WakeUp.instance_id.in_(ids)))
    per = max(n, 1)
    total = skeleton + task_bytes + hist_bytes + ut_bytes
    return {
        "instances": n,
        "skeleton_bytes": skeleton / per,
        "task_rows": task_rows / per,
        "task_bytes": task_bytes / per,
        "history_rows": hist_rows / per,
        "history_bytes": hist_bytes / per,
        "projection_rows": (ut_rows + wk_rows) / per,
        "projection_bytes": ut_bytes / per,
        "total_bytes": total / per,
    }


def sqlite_file_size(eng: Any, path: Path) -> int:
    with eng.db.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def storage(dbs: Databases, sizes: Sizes) -> dict[str, Any]:
    url = dbs.sqlite("storage")
    path = Path(url.split("///", 1)[1])
    eng = dbs.engine(url)
    deploy(eng, TEN_TASKS, USER_WAIT)
    n = sizes.storage_instances
    result: dict[str, Any] = {}
    for key in ("ten_tasks", "user_wait"):
        before = sqlite_file_size(eng, path)
        kmop_runner_for(eng, key, n, batch=1)
        after = sqlite_file_size(eng, path)
        with eng.transaction() as s:
            figures = payload_bytes(s, key)
        figures["sqlite_file_growth_bytes"] = (after - before) / n
        result[key] = figures
    return result


def print_storage(res: dict[str, Any]) -> None:
    say("\n== 2. Storage per instance (SQLite; text bytes of the columns that carry content)")
    say(
        "   process     state    skeleton  task rows (bytes)   history rows (bytes)   projections   total"
        "   file growth"
    )
    labels = {"ten_tasks": "completed", "user_wait": "waiting"}
    for key, f in res.items():
        say(
            f"   {key:<11} {labels[key]:<9}{f['skeleton_bytes']:7.0f} B  "
            f"{f['task_rows']:4.1f} ({f['task_bytes']:6.0f} B)"
            f"    {f['history_rows']:4.1f} ({f['history_bytes']:5.0f} B)      "
            f"{f['projection_rows']:3.1f} ({f['projection_bytes']:3.0f} B)  {f['total_bytes']:6.0f} B"
            f"  {f['sqlite_file_growth_bytes']:7.0f} B"
        )
    say(
        "   (file growth = SQLite file size after a WAL checkpoint, per instance: "
        "includes indexes and page slack)"
    )
