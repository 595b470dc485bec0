"""Register the general-purpose services every diagram may use."""

from __future__ import annotations

from typing import Any

from engine.services import ServiceContext, ServiceRegistry


def echo(ctx: ServiceContext, **values: Any) -> dict[str, Any]:
    """Return the parameters unchanged (useful to compute values in a service step)."""
    return dict(values)


def current_time(ctx: ServiceContext) -> dict[str, str]:
    """Return kmop's current time (the simulated one when the clock is simulated)."""
    return {"now": ctx.now.isoformat(), "date": ctx.now.date().isoformat()}


def register(registry: ServiceRegistry) -> None:
    registry.register("echo", echo)
    registry.register("current_time", current_time)
