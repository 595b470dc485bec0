"""The case view in a real browser: the vendored bpmn-js draws the diagram and marks where the case is."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import ARTIFACTS, Site, log_in


def classes(page: Any, element_id: str) -> set[str]:
    shape = page.locator(f'.djs-element[data-element-id="{element_id}"]')
    return set((shape.get_attribute("class") or "").split())


def test_case_view_draws_the_diagram_and_marks_the_current_and_completed_steps(page: Any, site: Site) -> None:
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # e.g. CSP refusals

    log_in(page, site, "an.vlaio", f"/dossiers/{site.case_id}")
    page.wait_for_selector('#kmop-diagram[data-state="ready"] svg')

    for lane in ("Lane_dienstverlener", "Lane_vlaio", "Lane_auditbureau"):
        assert page.locator(f'.djs-element[data-element-id="{lane}"]').count() == 1, lane
    assert "kmop-active" in classes(page, "check_declaration")
    for done in ("application_submitted", "eligibility_check", "sign_declaration"):
        assert "kmop-done" in classes(page, done), done
        assert "kmop-active" not in classes(page, done), done
    assert not {"kmop-active", "kmop-done"} & classes(page, "decide"), "steps ahead are not marked"
    stroke = page.locator('.djs-element.kmop-active[data-element-id="check_declaration"] .djs-visual > rect')
    assert stroke.evaluate("node => getComputedStyle(node).stroke") == "rgb(211, 84, 0)"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "case_view.png"), full_page=True)
    page.locator("#kmop-diagram").screenshot(path=str(ARTIFACTS / "case_view_diagram.png"))
    assert [e for e in errors if not e.endswith("/favicon.ico")] == []
    assert all(url.startswith(site.url) for url in requests), "everything is served by kmop, no CDN"


def test_a_diagram_that_cannot_be_loaded_says_so(page: Any, site: Site) -> None:
    log_in(page, site, "an.vlaio", f"/dossiers/{site.case_id}")
    page.wait_for_selector('#kmop-diagram[data-state="ready"]')
    page.route("**/diagram.bpmn", lambda route: route.fulfill(status=500, body="no"))
    page.reload()
    page.wait_for_selector('#kmop-diagram[data-state="failed"]')
    assert "Het diagram kon niet getoond worden." in page.inner_text("#kmop-diagram")
