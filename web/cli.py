"""The ``kmop`` command: where the layers' commands and the domain's services come together.

Registration is explicit: the engine's commands (``engine.commands``), the domain's
(``tasks.commands``, whose ``demo`` serves with the web application) and ``serve`` (``web.serve``), on
an engine with the domain's services (``tasks.registry.default_registry``).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine import commands as engine_commands
from engine.api import Engine
from engine.cli import Commands, run
from engine.config import Settings
from tasks import commands as domain_commands
from tasks.registry import default_registry

from . import serve


def kmop_commands() -> Commands:
    commands = Commands()
    engine_commands.register(commands)
    domain_commands.register_commands(commands, serve=serve.serve)
    serve.register_commands(commands)
    return commands


def make_engine() -> Engine:
    """An engine with the settings of the environment and every service kmop ships."""
    return Engine(Settings.from_env(), default_registry())


def main(argv: Sequence[str] | None = None, engine: Engine | None = None) -> int:
    """Run one ``kmop`` command; return the exit code (the console script)."""
    return run(
        argv,
        kmop_commands(),
        make_engine,
        engine,
        description="kmop: BPMN orchestration for kmo-portefeuille registration",
    )
