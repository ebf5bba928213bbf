"""The staffing forecast (queue_server/forecast.py): Erlang C against textbook values and an
exact computation, the simulation against Erlang C where its assumptions hold, and the table
built from tickets."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from queue_server import forecast
from queue_server.core.models import CenterRules, Counter, Field, Ticket, TicketStatus


def exact_erlang_c(c: int, a: int) -> Fraction:
    """The textbook formula term by term in exact fractions (factorials and powers, as printed)."""
    top = Fraction(a) ** c / math.factorial(c) * Fraction(c, c - a)
    return top / (sum(Fraction(a) ** k / math.factorial(k) for k in range(c)) + top)


def test_closed_forms_of_the_textbook() -> None:
    # M/M/1: the probability of waiting is the utilisation ρ (Kleinrock, Queueing Systems I, §3.2)
    assert forecast.erlang_c(1, 0.75) == pytest.approx(0.75)
    # M/M/2: C(2, A) = A² / (2 + A)
    assert forecast.erlang_c(2, 1.5) == pytest.approx(1.5 ** 2 / 3.5)
    # M/M/3 at A = 2 erlangs: 4/9
    assert forecast.erlang_c(3, 2.0) == pytest.approx(4 / 9)
    # one arrival a minute, 3-minute service, 5 agents: C = 81/343 (23.6 % wait)
    assert forecast.erlang_c(5, 3.0) == pytest.approx(81 / 343)
    assert exact_erlang_c(5, 3) == Fraction(81, 343)


@pytest.mark.parametrize(("c", "a"), [(11, 10), (55, 48), (120, 100), (4, 1)])
def test_recursion_equals_the_formula_as_printed(c: int, a: int) -> None:
    assert forecast.erlang_c(c, float(a)) == pytest.approx(float(exact_erlang_c(c, a)), rel=1e-12)


def test_worked_call_centre_example() -> None:
    """360 arrivals per half hour, 4-minute calls, 55 agents, target 15 s (the common worked
    example of the Erlang C method): load 48 erlangs, occupancy 87.3 %, and the figures of the
    formula for them."""
    per_hour, service, servers = 720, 4.0, 55
    load = per_hour / 60 * service
    assert load == 48 and load / servers == pytest.approx(0.8727, abs=1e-4)
    waiting = forecast.erlang_c(servers, load)
    assert waiting == pytest.approx(float(exact_erlang_c(55, 48)))
    assert forecast.mean_wait_min(servers, per_hour, service) == pytest.approx(waiting * 4 / 7)
    assert forecast.share_within(servers, per_hour, service, 0.25) == pytest.approx(
        1 - waiting * math.exp(-7 * 0.25 / 4))
    # fewer agents never do better; the answer is the first count reaching the share
    needed = forecast.counters_needed(per_hour, service, 0.25, 0.8)
    assert needed is not None
    assert forecast.share_within(needed, per_hour, service, 0.25) >= 0.8
    assert forecast.share_within(needed - 1, per_hour, service, 0.25) < 0.8


def test_overload_and_no_arrivals() -> None:
    assert forecast.erlang_c(3, 3.0) == 1.0
    assert forecast.share_within(3, 36, 5, 15) == 0.0  # 3 erlangs on 3 counters: unstable
    assert forecast.counters_needed(0, 5, 15, 0.8) == 0
    assert forecast.counters_needed(100_000, 60, 1, 0.99, limit=10) is None
    with pytest.raises(ValueError):
        forecast.erlang_c(0, 1.0)


def test_simulation_agrees_with_erlang_c_for_poisson_arrivals() -> None:
    """Where the assumptions hold (Poisson arrivals, exponential service, a long stretch so the
    empty start does not matter), replaying arrivals through the simulated queue gives the
    Erlang C share within ±3 points."""
    rng = random.Random(5)
    per_min, service, servers, target = 0.5, 6.0, 4, 5.0  # 3 erlangs on 4 counters
    days = []
    for _ in range(30):
        t, arrivals = 0.0, []
        while (t := t + rng.expovariate(per_min)) < 480:
            arrivals.append(t)
        days.append(arrivals)
    simulated = forecast.simulate_share(days, servers, service, target, runs=4)
    expected = forecast.share_within(servers, per_min * 60, service, target)
    assert abs(simulated - expected) < 0.03, (simulated, expected)


def test_a_burst_at_opening_needs_more_than_erlang_c_says() -> None:
    """Thirty citizens at the door when it opens (a burst, not a Poisson stream): the simulated
    plan opens more counters than Erlang C would for the same hourly rate."""
    days = [[0.0] * 30 for _ in range(4)]
    simulated = forecast.simulated_counters(days, 6.0, 15.0, 0.8)
    by_formula = forecast.counters_needed(30, 6.0, 15.0, 0.8)
    assert simulated is not None and by_formula is not None
    assert simulated > by_formula


def _ticket(n: int, day: date, hour: int, minute: int, field: str, served_min: float,
            tz: ZoneInfo) -> Ticket:
    issued = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(timezone.utc)
    called = issued + timedelta(minutes=2)
    return Ticket(id=f"t{n}", day=day, origin_field=field, seq=n, number=str(n), field_id=field,
                  priority=False, priority_group=None, status=TicketStatus.DONE, issued_at=issued,
                  source="api", called_at=called, finished_at=called + timedelta(minutes=served_min),
                  counter=1, staff="staff1")


def test_plan_from_tickets_per_weekday_and_hour() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    rules = CenterRules(center_name="Trung tâm", timezone=tz,
                        fields={"ho-tich": Field("ho-tich", "Hộ tịch"), "dat-dai": Field("dat-dai", "Đất đai")},
                        counters={1: Counter(1, "Quầy 1", ("ho-tich", "dat-dai"))})
    first = date(2026, 11, 2)  # a Monday; two weeks
    last = first + timedelta(days=13)
    tickets = []
    n = 0
    for week in range(2):
        monday = first + timedelta(days=7 * week)
        for k in range(12):  # Mondays: 12 tickets from 08:00, 6 per field, 10 minutes each
            n += 1
            tickets.append(_ticket(n, monday, 8, 5 * k, "ho-tich" if k % 2 else "dat-dai", 10, tz))
        for k in range(3):  # and 3 from 07:30 (the opening hour)
            n += 1
            tickets.append(_ticket(n, monday, 7, 30 + k, "ho-tich", 10, tz))
    plan = forecast.plan_from_tickets(tickets, rules, first, last, target_min=15, share=0.8)
    assert plan["tickets"] == 30 and plan["service_min"] == 10.0 and plan["service_cv"] == 0.0
    assert plan["hours"] == [7, 8]
    assert [w["weekday"] for w in plan["weekdays"]] == [0]
    opening, eight = plan["weekdays"][0]["hours"]
    assert opening["method"] == "simulation" and opening["arrivals_per_hour"] == 3
    # 12 an hour (two Mondays with 12 each) of 10 minutes: 2 erlangs
    assert eight["method"] == "erlang_c" and eight["arrivals_per_hour"] == 12
    assert eight["counters"] == forecast.counters_needed(12, 10, 15, 0.8)
    # each field alone: 6 an hour of 10 minutes, planned as its own queue
    assert eight["counters_if_dedicated"] == 2 * forecast.counters_needed(6, 10, 15, 0.8)
    assert eight["counters_if_dedicated"] >= eight["counters"]


def test_the_forecast_never_reads_the_wall_clock() -> None:
    """A pure function of the tickets it is given (import-linter keeps Flask and SQL out)."""
    import ast
    from pathlib import Path

    source = Path(forecast.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in {("datetime", "now"), ("date", "today"),
                                                      ("time", "time"), ("time", "monotonic")}, node.lineno
