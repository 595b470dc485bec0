"""The staff's lists by page: search by company name, enterprise number in any format or key, sort by due
date, page 2 and the counts, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask

from engine import clock
from engine.api import Engine
from tests.web.test_cases import start, to_report
from tests.web.test_provider import client_of


def keys(html: str) -> list[str]:
    return re.findall(r'<tr data-case="\d+"[^>]*>\s*<td><a [^>]*>#\d+</a></td>\s*<td>([^<]*)</td>', html)


def test_search_sort_and_page_the_case_list(app: Flask, engine: Engine, monkeypatch: object) -> None:
    from web import lists

    monkeypatch.setattr(lists, "PAGE_SIZE", 2)  # type: ignore[attr-defined]
    to_report(engine, "APP-2026-00000A", "dnv", company_name="Zeta Opleidingen BV")
    start(engine, "APP-2026-00000B", enterprise_number="1000.000.021", company_name="Alfa Advies BV")
    start(engine, "APP-2026-00000C", company_name="Beta Leren BV")
    an = client_of(app, "an.vlaio")

    def page(query: str) -> str:
        response = an.get(f"/dossiers/?{query}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    first = page("")
    assert keys(first) == ["APP-2026-00000C", "APP-2026-00000B"] and "1–2 van 3" in first
    second = page("page=2")
    assert keys(second) == ["APP-2026-00000A"] and "3–3 van 3" in second
    assert keys(page("page=99")) == ["APP-2026-00000A"], "a page past the end shows the last page"
    for typed in ("1000000021", "1000.000.021", "BE 1000 000 021", "alfa adv", "app-2026-00000b"):
        assert keys(page(f"q={typed}")) == ["APP-2026-00000B"], typed
    assert keys(page("q=nergens")) == []
    assert keys(page("sort=company&dir=asc")) == ["APP-2026-00000B", "APP-2026-00000C"]
    from engine import pages

    monkeypatch.setattr(pages, "SORT_IN_MEMORY", 0)  # type: ignore[attr-defined]
    # read in the order of the field's index, as with many cases: the same order, also on page 2
    assert keys(page("sort=company&dir=asc")) == ["APP-2026-00000B", "APP-2026-00000C"]
    assert keys(page("sort=company&dir=asc&page=2")) == ["APP-2026-00000A"]
    assert keys(page("sort=company&dir=desc")) == ["APP-2026-00000A", "APP-2026-00000C"]
    tasks = an.get("/vlaio/?lane=alle&sort=company&dir=desc").get_data(as_text=True)
    assert tasks.index("Beta Leren BV") < tasks.index("Alfa Advies BV")
    # due: the declarations in 2 weeks, the audit report's timer in 4 weeks: soonest first
    by_due = keys(page("sort=due&dir=asc&page=2"))
    assert by_due == ["APP-2026-00000A"]
    assert "Beta Leren BV" in first and "Alfa Advies BV" in first


def test_the_task_list_pages_searches_and_shows_late_provider_tasks(app: Flask, engine: Engine) -> None:
    for n in range(3):
        start(engine, f"APP-2026-0000{n}F", company_name=f"Firma {n} BV")
    an = client_of(app, "an.vlaio")
    everything = an.get("/vlaio/?lane=alle").get_data(as_text=True)
    assert everything.count('<tr class="task') == 3 and "1–3 van 3" in everything
    found = an.get("/vlaio/?lane=alle&q=firma 1").get_data(as_text=True)
    assert found.count('<tr class="task') == 1 and "APP-2026-00001F" in found and "Firma 1 BV" in found
    assert an.get("/vlaio/?lane=alle&overdue=1").get_data(as_text=True).count('<tr class="task') == 0
    engine.advance_clock(clock.now() + timedelta(days=2 * 365))  # the declarations were never signed
    late = an.get("/vlaio/?lane=alle&overdue=1").get_data(as_text=True)
    assert late.count('<tr class="task overdue"') == 3
    assert an.get("/vlaio/?page=abc&sort=nonsense&dir=up&q=%25_").status_code == 200
