"""The domain's services, start validators, message contracts, search fields and worker jobs, filled
into the engine's registry (``engine.services``) when an application starts."""

from __future__ import annotations

from engine.services import ServiceRegistry

from . import builtin, complaints, notify, procedures


def default_registry() -> ServiceRegistry:
    """Build the registry with every service kmop ships."""
    registry = ServiceRegistry()
    builtin.register(registry)
    procedures.register_all(registry)
    complaints.register(registry)
    registry.register_job("outbox", notify.send_outbox)
    return registry
