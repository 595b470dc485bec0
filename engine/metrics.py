"""Count what the engine does for Prometheus, and expose it with the state of all instances.

Two kinds of figures:

- **recorded where things happen** (the metric objects below): how late each timer fired, how long each
  service operator took and how often it failed, and (recorded by the web application) how long each
  request took. They live in the process that did the work; with ``PROMETHEUS_MULTIPROC_DIR`` set
  (gunicorn, a worker beside it) every process writes them into that folder and a scrape adds them up.
- **the state, counted at scrape time** by ``StateCollector`` from the database (``engine.monitor``):
  instances by process and status, ready user tasks by process and element, open incidents, buffered
  messages, the age of the youngest worker heartbeat. Only the scraping process counts them, so they are
  never added up across processes.

prometheus_client chooses between its in-process and its multiprocess values when it is first imported:
``PROMETHEUS_MULTIPROC_DIR`` must be in the environment before the process starts, not set later.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from time import perf_counter

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select

from . import clock, monitor
from .models import WorkerHeartbeat
from .services import Transaction

log = logging.getLogger("kmop.metrics")

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own setting, read from the environment

# Lateness runs from milliseconds (a sweep every 0.25 s) to days (a worker that was down).
TIMER_LATENESS = Histogram(
    "kmop_timer_lateness_seconds",
    "How late a timer fired after its due time, in seconds",
    ["process"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400),
)
SERVICE_DURATION = Histogram(
    "kmop_service_task_seconds",
    "How long a call of a service task's operator took (successful or not), in seconds",
    ["operator"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SERVICE_FAILURES = Counter(
    "kmop_service_task_failures",
    "Calls of a service task's operator that raised an error (each attempt counts)",
    ["operator"],
)
HTTP_DURATION = Histogram(
    "kmop_http_request_duration_seconds",
    "How long the web application took to answer, by route (the URL rule, not the path) and status",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10),
)


def timer_fired(process_key: str, late_seconds: float) -> None:
    TIMER_LATENESS.labels(process=process_key).observe(max(late_seconds, 0.0))


@contextmanager
def service_call(operator: str) -> Iterator[None]:
    """Time one call of ``operator``; an error is counted as a failure and raised on."""
    started = perf_counter()
    try:
        yield
    except BaseException:
        SERVICE_FAILURES.labels(operator=operator).inc()
        raise
    finally:
        SERVICE_DURATION.labels(operator=operator).observe(perf_counter() - started)


class StateCollector(Collector):
    """Count the instances' state in the database at each scrape (nothing is kept between scrapes)."""

    def __init__(self, transaction: Transaction) -> None:
        self.transaction = transaction

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("kmop_database_up", "1 when the scrape could count the state in the database")
        try:
            families = self._families()
        except Exception:  # a scrape while the database is away still answers, with the process's figures
            log.exception("metrics: the state could not be counted in the database")
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _families(self) -> list[Metric]:
        cases = GaugeMetricFamily(
            "kmop_cases", "Process instances by process and status", labels=["process", "status"]
        )
        tasks = GaugeMetricFamily(
            "kmop_user_tasks_waiting",
            "User tasks ready for a person, by process and element",
            labels=["process", "element"],
        )
        incidents = GaugeMetricFamily("kmop_incidents_open", "Incidents not yet resolved")
        buffered = GaugeMetricFamily(
            "kmop_messages_buffered", "Messages kept for a case that does not wait yet"
        )
        heartbeat = GaugeMetricFamily(
            "kmop_worker_heartbeat_age_seconds",
            "Seconds (kmop's clock) since the youngest worker heartbeat; absent when no worker ever ran",
        )
        now = clock.now()
        with self.transaction(write=False) as session:
            for (process, status), n in sorted(monitor.status_by_process(session).items()):
                cases.add_metric([process, status], n)
            for (process, element), n in sorted(monitor.ready_tasks_by_element(session).items()):
                tasks.add_metric([process, element], n)
            incidents.add_metric([], monitor.open_incidents(session))
            buffered.add_metric([], monitor.buffered_messages(session, now))
            beat = session.scalar(
                select(WorkerHeartbeat.beat_at).order_by(WorkerHeartbeat.beat_at.desc()).limit(1)
            )
        families: list[Metric] = [cases, tasks, incidents, buffered]
        if beat is not None:
            heartbeat.add_metric([], max((now - beat).total_seconds(), 0.0))
            families.append(heartbeat)
        return families


class _ThisProcess(Collector):
    """Every metric registered in this process (prometheus_client's default registry)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition(transaction: Transaction) -> tuple[bytes, str]:
    """The text a scrape gets, and its content type: the recorded metrics (of every process writing into
    ``PROMETHEUS_MULTIPROC_DIR`` when it is set, else of this one) and the state counted now."""
    registry = CollectorRegistry()
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        prometheus_multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(StateCollector(transaction))
    return generate_latest(registry), CONTENT_TYPE_LATEST
