"""Run ``kmop`` as separate processes, one per command, the way an operator or a restart would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from typing import Any


class Kmop:
    def __init__(self, url: str, **env: str) -> None:
        self.env = {**os.environ, "KMOP_DATABASE_URL": url, "KMOP_CLOCK": "simulated", **env}
        self.env.pop("KMOP_REPLAY", None)
        self.calls = 0

    def run(self, *args: str, expect: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        proc = subprocess.run(
            [sys.executable, "-m", "web", *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == expect, (
            f"kmop {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def now(self) -> datetime:
        return datetime.fromisoformat(self.json("clock", "show")["now"])
