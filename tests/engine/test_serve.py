"""`kmop demo` and `kmop serve` serve the web application (with the timer worker) until stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest

from engine.config import PROJECT_ROOT

pytestmark = pytest.mark.processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"kmop ended early: {proc.communicate()[0]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("kmop did not answer in time")


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = {
        **os.environ,
        "KMOP_DATABASE_URL": f"sqlite:///{tmp_path / 'k.sqlite3'}",
        "KMOP_CLOCK": "simulated",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "web", *args, "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_until_up(url, proc)
    return proc, url


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_kmop_demo_serves_demo_people_and_cases(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, "demo")
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        page = opener.open(url + "/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        form = urlencode({"csrf_token": token.group(1), "username": "jan.acme", "password": "demo"})
        opener.open(url + "/login", data=form.encode()).read()
        mine = opener.open(url + "/aanbieder/").read().decode()
        assert "APP-DEMO-1" in mine and "Acme Opleidingen BV" in mine
    finally:
        out = _stop(proc)
    assert "password 'demo'" in out and "kmop serves http://127.0.0.1:" in out and "kmop stopped" in out


def test_kmop_serve_serves_the_application_on_the_port_asked(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, "serve", "--host", "127.0.0.1")
    try:
        with urllib.request.urlopen(url + "/login") as response:
            assert response.status == 200 and "Content-Security-Policy" in response.headers
        with urllib.request.urlopen(url + "/api/v1/openapi.json") as response:
            assert response.status == 200
    finally:
        _stop(proc)
