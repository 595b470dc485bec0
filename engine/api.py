"""Offer kmop's engine as one typed facade: deploy, start, complete, message, wake, query.

Every method that reads or writes takes the caller's ``Session``; the caller owns the transaction
(``with engine.transaction() as session: ...``). Methods return the dataclasses of ``engine.views``.

The methods live in ``engine.facade``: the base (settings, database, runtime, ``transaction``,
``intent``) and one mixin each for definitions, instances, events and queries.
"""

from __future__ import annotations

from .facade.definitions import DefinitionsMixin
from .facade.events import EventsMixin
from .facade.instances import InstancesMixin
from .facade.migration import MigrationMixin
from .facade.monitor import MonitorMixin
from .facade.queries import QueriesMixin
from .facade.workbench import WorkbenchMixin

__all__ = ["Engine"]


class Engine(
    DefinitionsMixin, InstancesMixin, EventsMixin, QueriesMixin, WorkbenchMixin, MigrationMixin, MonitorMixin
):
    """The one entry point to kmop's engine for the CLI, the web app, the worker and tests."""
