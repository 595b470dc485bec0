"""Read kmop's settings from the environment (``KMOP_…``), with defaults that run out of the box."""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_database_url() -> str:
    instance = PROJECT_ROOT / "instance"
    return f"sqlite:///{instance / 'kmop.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    """Everything that can be configured; build one with ``Settings.from_env()``."""

    database_url: str = field(default_factory=_default_database_url)
    clock: str = "system"  # "system" or "simulated"
    message_buffer_seconds: int = 7 * 24 * 3600  # 0 turns buffering off
    service_attempts: int = 3  # attempts in all before an incident is opened
    service_backoff_seconds: float = 10.0  # first retry delay; doubles per attempt
    worker_poll_seconds: float = 0.25
    worker_batch: int = 200  # due instances read at a time, most overdue first
    worker_claim: int = 20  # of those, woken together in one transaction (1: each in its own)
    script_timeout_seconds: float = 2.0
    script_memory_mb: int = 1024  # the address space of a script host (engine/script_host.py)
    workflow_cache: int = 256  # workflows of recent runs kept in memory per process (0: always load)
    bpmn_dir: Path = PROJECT_ROOT / "bpmn"
    timezone: str = "Europe/Brussels"  # the zone the command line shows times in (stored in UTC)
    # A browser session ends after this long without a request, and this long after its log-in, measured
    # in real (wall-clock) time, never the simulated clock: see "Sessions" in README.md.
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    # Replay mode: forget every in-process cache but the parsed blueprints at the start of each
    # transaction, as if every step ran in a new process, and check after each run that a load rebuilds
    # the workflow's specs exactly. For tests (``pytest --replay``) and for chasing restart bugs.
    replay: bool = False
    # Operations (README "Operations: metrics, health and logs").
    log_format: str = "text"  # "text" or "json" (one JSON object a line)
    log_level: str = "INFO"  # kmop's own loggers; libraries log from WARNING
    heartbeat_seconds: float = 5.0  # a worker writes its heartbeat this often (real time)
    heartbeat_max_seconds: float = 60.0  # /readyz: the youngest heartbeat may be this old (kmop's clock)
    metrics_token: str = field(default="", repr=False)  # /metrics with "Authorization: Bearer <token>"
    metrics_networks: tuple[str, ...] = ()  # /metrics for clients in these networks (CIDR)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``environ`` (default: the process environment), then apply overrides."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        if "KMOP_DATABASE_URL" in env:
            values["database_url"] = env["KMOP_DATABASE_URL"]
        if "KMOP_REPLAY" in env:
            values["replay"] = env["KMOP_REPLAY"].strip().lower() in ("1", "true", "yes", "on")
        if "KMOP_TIMEZONE" in env:
            values["timezone"] = env["KMOP_TIMEZONE"].strip()
        if "KMOP_CLOCK" in env:
            values["clock"] = env["KMOP_CLOCK"].strip().lower()
        if "KMOP_LOG_FORMAT" in env:
            values["log_format"] = env["KMOP_LOG_FORMAT"].strip().lower()
        if "KMOP_LOG_LEVEL" in env:
            values["log_level"] = env["KMOP_LOG_LEVEL"].strip().upper()
        if "KMOP_METRICS_TOKEN" in env:
            values["metrics_token"] = env["KMOP_METRICS_TOKEN"].strip()
        if "KMOP_METRICS_NETWORKS" in env:
            values["metrics_networks"] = tuple(
                n.strip() for n in env["KMOP_METRICS_NETWORKS"].split(",") if n.strip()
            )
        numeric = {
            "KMOP_MESSAGE_BUFFER_SECONDS": ("message_buffer_seconds", int),
            "KMOP_SERVICE_ATTEMPTS": ("service_attempts", int),
            "KMOP_SERVICE_BACKOFF_SECONDS": ("service_backoff_seconds", float),
            "KMOP_WORKER_POLL_SECONDS": ("worker_poll_seconds", float),
            "KMOP_WORKER_CLAIM": ("worker_claim", int),
            "KMOP_SCRIPT_TIMEOUT_SECONDS": ("script_timeout_seconds", float),
            "KMOP_SCRIPT_MEMORY_MB": ("script_memory_mb", int),
            "KMOP_WORKFLOW_CACHE": ("workflow_cache", int),
            "KMOP_SESSION_IDLE_MINUTES": ("session_idle_minutes", int),
            "KMOP_SESSION_MAX_HOURS": ("session_max_hours", int),
            "KMOP_HEARTBEAT_SECONDS": ("heartbeat_seconds", float),
            "KMOP_HEARTBEAT_MAX_SECONDS": ("heartbeat_max_seconds", float),
        }
        for var, (name, kind) in numeric.items():
            if var in env:
                try:
                    values[name] = kind(env[var])
                except ValueError as exc:
                    raise ValueError(f"{var} must be a number, got {env[var]!r}") from exc
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.session_idle_minutes < 1 or settings.session_max_hours < 1:
            raise ValueError("KMOP_SESSION_IDLE_MINUTES and KMOP_SESSION_MAX_HOURS must be at least 1")
        if settings.clock not in ("system", "simulated"):
            raise ValueError(f"KMOP_CLOCK must be 'system' or 'simulated', got {settings.clock!r}")
        _check_operations(settings)
        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"KMOP_TIMEZONE must name a time zone (Europe/Brussels), got {settings.timezone!r}"
            ) from exc
        return settings


def _check_operations(settings: Settings) -> None:
    if settings.log_format not in ("text", "json"):
        raise ValueError(f"KMOP_LOG_FORMAT must be 'text' or 'json', got {settings.log_format!r}")
    if not isinstance(logging.getLevelName(settings.log_level), int):
        raise ValueError(f"KMOP_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
    if settings.heartbeat_seconds <= 0 or settings.heartbeat_max_seconds <= 0:
        raise ValueError("KMOP_HEARTBEAT_SECONDS and KMOP_HEARTBEAT_MAX_SECONDS must be more than 0")
    for network in settings.metrics_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ValueError(
                f"KMOP_METRICS_NETWORKS must be networks like 10.0.0.0/8, separated by commas: {network!r}"
            ) from exc
