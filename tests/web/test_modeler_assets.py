"""The modeler's own JavaScript is tested with Node's test runner (tests/js); the vendored bpmn.io
bundle is the one the lock file names, and the editor page loads nothing from another host."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from engine.config import PROJECT_ROOT

STATIC = PROJECT_ROOT / "web" / "static"
VENDOR = STATIC / "vendor" / "modeler"


def test_the_modelers_own_javascript_passes_its_tests() -> None:
    """Node.js runs them (``.ci/run`` installs Debian's ``nodejs``): skipped without it, failed under CI."""
    if shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("Node.js is missing: .ci/run installs Debian's nodejs for the modeler's tests")
        pytest.skip("Node.js is not installed (.ci/run installs it)")
    done = subprocess.run(
        ["node", "--test", str(PROJECT_ROOT / "tests" / "js")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"^# pass (\d+)", done.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) >= 20, done.stdout[-2000:]


def test_the_vendored_bundle_is_the_version_the_lock_file_names() -> None:
    lock = json.loads((PROJECT_ROOT / "web" / "assets" / "package-lock.json").read_text())
    lines = [line for line in (VENDOR / "VERSION").read_text().splitlines() if line]
    versions = dict(line.rsplit(" (", 1)[0].rsplit(" ", 1) for line in lines)
    for package in ("bpmn-js", "bpmn-js-properties-panel", "dmn-js", "codemirror"):
        assert versions[package] == lock["packages"][f"node_modules/{package}"]["version"], package
    assert (VENDOR / "modeler.bundle.js").stat().st_size > 500_000


def test_the_modelers_files_name_no_other_host() -> None:
    """Every script and style sheet of the editor comes from kmop itself: none loads from another host."""
    own = [*(STATIC / "modeler").glob("*.js"), *(STATIC / "modeler").glob("*.css")]
    templates = list((PROJECT_ROOT / "web" / "modeler" / "templates" / "modeler").glob("*.html"))
    for path in [*own, *templates]:
        text = path.read_text()
        assert not re.search(r"""(src|href|import|url)\s*[=(]?\s*["']?(https?:)?//""", text), path
    imports = re.findall(r"""from\s+["']([^"']+)["']""", (STATIC / "modeler" / "editor.js").read_text())
    assert imports and all(i.startswith("./") or i.startswith("../vendor/") for i in imports), imports
