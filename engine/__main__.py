"""``python -m engine``: the engine's own commands, on an engine without any services.

kmop's full command (with the domain's and the web application's commands) is ``kmop``, or
``python -m web``.
"""

import sys

from engine.api import Engine
from engine.cli import Commands, run
from engine.commands import register
from engine.config import Settings

commands = Commands()
register(commands)
sys.exit(run(None, commands, lambda: Engine(Settings.from_env())))
