"""``kmop serve``: the web application with the timer worker in the same process."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from engine.api import Engine
from engine.cli import Commands
from engine.worker import Worker


def serve(eng: Engine, host: str, port: int) -> None:
    """Serve the web application with the timer worker in the same process, until Ctrl-C or SIGTERM.

    The embedded default (SQLite, one process). In production run the app under gunicorn
    (``gunicorn 'web:create_app()'``) with ``kmop worker`` beside it.
    """
    from werkzeug.serving import make_server

    from . import create_app

    app = create_app(engine=eng)
    server = make_server(host, port, app, threaded=True)
    worker = Worker(eng)

    def _stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    worker.start()
    print(
        f"kmop serves http://{host}:{server.server_port}/ with the timer worker; Ctrl-C stops it", flush=True
    )
    try:
        server.serve_forever()
    finally:
        worker.stop()
        server.server_close()
        print("kmop stopped", flush=True)


def cmd_serve(eng: Engine, args: argparse.Namespace) -> None:
    eng.init_db()
    serve(eng, args.host, args.port)


def register_commands(commands: Commands) -> None:
    def arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=5000)

    commands.add(
        "serve", "serve the web application, with the timer worker in the same process", cmd_serve, arguments
    )
