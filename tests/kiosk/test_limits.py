"""Rate limits with a hand-moved clock: a kiosk screen's window, a button's interval, a box's cap."""

from __future__ import annotations

import pytest

from kiosk.limits import PressGate, SlidingWindowLimiter


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_window_allows_the_limit_then_refuses_until_the_oldest_leaves() -> None:
    clock = FakeMonotonic()
    limiter = SlidingWindowLimiter(3, 60.0, clock=clock)
    assert [limiter.allow("10.0.0.5") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow("10.0.0.6"), "each screen has its own budget"
    clock.t += 30
    assert not limiter.allow("10.0.0.5")
    assert limiter.retry_after("10.0.0.5") == pytest.approx(30.0)
    clock.t += 30
    assert limiter.retry_after("10.0.0.5") == 0.0
    assert limiter.allow("10.0.0.5")


def test_refused_events_do_not_extend_the_wait() -> None:
    clock = FakeMonotonic()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    assert limiter.allow()
    for _ in range(100):
        clock.t += 0.05
        assert not limiter.allow()
    clock.t += 5.1
    assert limiter.allow(), "hammering did not push the window forward"


def test_window_forgets_the_least_recent_client_first() -> None:
    limiter = SlidingWindowLimiter(1, 60.0, clock=FakeMonotonic(), max_keys=2)
    assert limiter.allow("a") and limiter.allow("b") and limiter.allow("c")
    assert limiter.allow("a"), "'a' was forgotten (bounded memory), so it starts afresh"
    assert not limiter.allow("c")


def test_press_gate_interval_per_button_and_cap_per_box() -> None:
    clock = FakeMonotonic()
    gate = PressGate(2.0, SlidingWindowLimiter(3, 60.0, clock=clock), clock=clock)
    assert gate.allow(17)
    assert not gate.allow(17), "held or bounced: one ticket"
    assert gate.allow(27) and gate.allow(22)
    assert not gate.allow(5), "the box's cap: 3 a minute"
    clock.t += 2.0
    assert not gate.allow(17), "interval passed, but the cap still holds"
    clock.t += 58.0
    assert gate.allow(17)


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1, "window": 0}])
def test_bad_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(**kwargs)  # type: ignore[arg-type]
