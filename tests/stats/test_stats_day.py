"""Every statistic of the scripted day (tests/stats/conftest.py) against the value worked out by
hand from the timeline there. Minutes: waits and service times are whole minutes by the script.

Visit waits (first call − issue): 1003 4, 2001 15, 1001 22, 1002 40.
Visit service (finish − its call): 1003 10, 1001 4 (08:36→08:40), 2001 5 (08:45→08:50), 1002 10.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.stats.conftest import ScriptedHub


@pytest.fixture(scope="module")
def data(day_hub: ScriptedHub) -> dict[str, Any]:
    r = day_hub.get("/api/v1/stats?from=2026-11-30&to=2026-11-30")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def row(rows: list[dict[str, Any]], key: str, value: Any) -> dict[str, Any]:
    found = [r for r in rows if r[key] == value]
    assert len(found) == 1, (key, value, rows)
    return found[0]


def test_totals_of_the_day(data: dict[str, Any]) -> None:
    t = data["totals"]
    # six numbers taken; 2002 cancelled, 2003 still waiting; 2001 was a no-show but came back
    assert (t["issued"], t["served"], t["no_show"], t["cancelled"], t["waiting"]) == (6, 4, 0, 1, 1)
    assert (t["closed_at_day_end"], t["print_failed"], t["clock_anomalies"]) == (0, 0, 0)
    assert t["dossiers"] == 3  # 1003: 2, 1001: 1 (received, default), 2001 and 1002: 0
    assert (t["no_show_pct"], t["cancelled_pct"]) == (0.0, 16.67)  # 1 of 6 = 16.666… %
    # waits 4, 15, 22, 40: mean 20.25; median (15 + 22) / 2; nearest rank ⌈0.9·4⌉ = 4th → 40
    assert t["wait_min"] == {"avg": 20.25, "median": 18.5, "p90": 40.0}
    # services 4, 5, 10, 10
    assert t["service_min"] == {"avg": 7.25, "median": 7.5, "p90": 10.0}
    # target 10 min ([reports] target_wait_min): only 1003 (4 min) of the 4 called
    assert data["target_wait_min"] == 10.0
    assert (t["within_target"], t["within_target_pct"]) == (1, 25.0)
    assert (data["days_with_visits"], data["visits_per_day"], data["dossiers_per_day"]) == (1, 6.0, 3.0)


def test_a_transferred_visit_counts_in_each_field_that_served_it(data: dict[str, Any]) -> None:
    ho = row(data["by_service"], "service", "ho-tich")
    # issued here: 1001, 1002, 1003; served here: 1003, 1001 (until its transfer), 1002
    assert (ho["name"], ho["issued"], ho["served"], ho["transferred"], ho["dossiers"]) == ("Hộ tịch", 3, 3, 1, 2)
    assert ho["wait_min"] == {"avg": 22.0, "median": 22.0, "p90": 40.0}  # 4, 22, 40
    assert ho["service_min"] == {"avg": 9.33, "median": 10.0, "p90": 10.0}  # 10, 8 (to transfer), 10
    assert ho["within_target_pct"] == 33.33
    ct = row(data["by_service"], "service", "chung-thuc")
    # issued here: 2001, 2002, 2003; served here: 1001 (after the transfer), 2001
    assert (ct["issued"], ct["served"], ct["cancelled"], ct["waiting"], ct["dossiers"]) == (3, 2, 1, 1, 1)
    # 2001 waited 15 (its first call), 1001 waited 6 here (transfer 08:30 → call 08:36)
    assert ct["wait_min"] == {"avg": 10.5, "median": 10.5, "p90": 15.0}
    assert ct["service_min"] == {"avg": 4.5, "median": 4.5, "p90": 5.0}
    # the totals count 1001 once: 4 served, not 5
    assert sum(s["served"] for s in data["by_service"]) == 5 and data["totals"]["served"] == 4


def test_per_counter_and_per_staff(data: dict[str, Any]) -> None:
    expected = {
        # counter: (visits called, served, no-show, transferred, dossiers, wait avg, service avg,
        #           pauses, paused min, ratings per level)
        1: (2, 2, 0, 1, 2, 13.0, 9.0, 0, 0.0, [1, 0, 0]),   # 1003 (4 / 10), 1001 (22 / 8)
        2: (2, 2, 1, 0, 1, 10.5, 4.5, 0, 0.0, [1, 1, 0]),   # 2001 no-show then served, 1001
        3: (1, 1, 0, 0, 0, 40.0, 10.0, 1, 10.0, [0, 0, 1]),  # 1002; the 08:31–08:41 pause
    }
    for n, (visits, served, no_show, moved, dossiers, wait, service, pauses, paused, ratings) in expected.items():
        for key, value in (("counter", n), ("staff", f"staff{n}")):
            r = row(data[f"by_{key}"], key, value)
            assert (r["issued"], r["served"], r["no_show"], r["transferred"], r["dossiers"]) == (
                visits, served, no_show, moved, dossiers), (key, value)
            assert (r["wait_min"]["avg"], r["service_min"]["avg"]) == (wait, service), (key, value)
            assert (r["pauses"], r["paused_min"]) == (pauses, paused), (key, value)
            assert [lv["count"] for lv in r["satisfaction"]["levels"]] == ratings, (key, value)
    assert row(data["by_counter"], "counter", 1)["name"] == "Quầy 1"


def test_per_hour_weekday_day_priority_and_month(data: dict[str, Any]) -> None:
    assert [(h["hour"], h["issued"], h["issued_per_day"]) for h in data["by_hour"]] == [(8, 5, 5.0), (9, 1, 1.0)]
    assert [(w["weekday"], w["days"], w["issued"]) for w in data["by_weekday"]] == [(0, 1, 6)]  # a Monday
    day = row(data["by_day"], "day", "2026-11-30")
    assert (day["issued"], day["served"], day["dossiers"], day["wait_min"]["avg"]) == (6, 4, 3, 20.25)
    priority = row(data["by_priority"], "priority", True)
    assert (priority["issued"], priority["served"], priority["wait_min"]["avg"]) == (1, 1, 4.0)
    ordinary = row(data["by_priority"], "priority", False)
    assert (ordinary["issued"], ordinary["wait_min"]["avg"]) == (5, 25.67)  # 15, 22, 40
    assert data["by_month"] == [{"month": "2026-11", "issued": 6, "served": 4, "dossiers": 3}]
    assert data["by_staff_month"] == [
        {"staff": "staff1", "month": "2026-11", "served": 2, "dossiers": 2},
        {"staff": "staff2", "month": "2026-11", "served": 2, "dossiers": 1},
        {"staff": "staff3", "month": "2026-11", "served": 1, "dossiers": 0},
    ]
    # 4 → 0–5, 15 → 10–15, 22 → 20–30, 40 → 30–45
    assert [b["visits"] for b in data["wait_histogram"]] == [1, 0, 1, 0, 1, 1, 0, 0]


def test_satisfaction_of_the_day(data: dict[str, Any]) -> None:
    sat = data["satisfaction"]
    assert sat["total"] == 4
    assert [(lv["label"], lv["count"], lv["percent"]) for lv in sat["levels"]] == [
        ("Rất hài lòng", 2, 50.0), ("Hài lòng", 1, 25.0), ("Chưa hài lòng", 1, 25.0)]


def test_another_range_is_empty_and_ratios_are_null(day_hub: ScriptedHub) -> None:
    r = day_hub.get("/api/v1/stats?from=2026-11-01&to=2026-11-29")
    assert r.status_code == 200
    t = r.json()["totals"]
    assert (t["issued"], t["no_show_pct"], t["within_target_pct"], t["wait_min"]["avg"]) == (0, None, None, None)


def test_the_answer_is_what_the_openapi_document_describes(day_hub: ScriptedHub, data: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    from queue_server import report_tables

    doc = requests.get(f"{day_hub.hub.url}/api/v1/openapi.json", timeout=10).json()
    schema = doc["paths"]["/api/v1/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    Draft202012Validator(schema).validate(data)
    # a figure the document does not know is caught
    broken = {**data, "totals": {**data["totals"], "issued": "six"}}
    assert not Draft202012Validator(schema).is_valid(broken)
    name = doc["paths"]["/api/v1/reports/{name}.csv"]["get"]["parameters"][0]
    assert name["schema"]["enum"] == [*report_tables.TABLES, "all"]
