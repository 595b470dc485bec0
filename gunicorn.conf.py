"""gunicorn's settings for kmop, read from the working folder (``gunicorn 'web:create_app()'``).

With ``PROMETHEUS_MULTIPROC_DIR`` set, every gunicorn worker writes its metrics into that folder and
``/metrics`` adds them up; when a worker ends, its live gauges must go with it.
"""

from __future__ import annotations

import os
from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
