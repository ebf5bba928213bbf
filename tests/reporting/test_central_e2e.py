"""A center and the central backend as real processes (issue 12, "How it is proven"): the central's
totals equal the center's own statistics exactly — after an outage of the central, after a kill -9
of the center between the central's answer and the center's acknowledgement, and with several
centers sending at once. Late ratings arrive as new revisions."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.conftest import HubProcess, free_port, login

from .conftest import READER_TOKEN, center_config, start_center
from .proxy import CentralProxy

DAY = "2026-11-30"
FAKE_NOW = {"QUAYSO_FAKE_NOW": f"{DAY}T08:00:00+07:00"}
READER = {"Authorization": f"Bearer {READER_TOKEN}"}


def province(central_url: str, day: str = DAY) -> dict[str, Any]:
    """The central's summary of `day` (reader token)."""
    r = requests.get(f"{central_url}/api/v1/province/summary", params={"from": day, "to": day},
                     headers=READER, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def center_figures(hub: HubProcess, headers: dict[str, str], day: str = DAY) -> dict[str, Any]:
    """The center's own statistics of `day`, in the central's terms."""
    stats = requests.get(f"{hub.url}/api/v1/stats", params={"from": day, "to": day}, headers=headers,
                         timeout=10).json()
    t = stats["totals"]
    return {"issued": t["issued"], "served": t["served"], "no_show": t["no_show"],
            "cancelled": t["cancelled"], "closed_at_day_end": t["closed_at_day_end"],
            "dossiers": t["dossiers"],
            "ratings": {str(lv["level"]): lv["count"] for lv in stats["satisfaction"]["levels"]}}


def central_figures(data: dict[str, Any], cid: str) -> dict[str, Any] | None:
    c = data["centers"].get(cid)
    if c is None:
        return None
    return {k: c[k] for k in ("issued", "served", "no_show", "cancelled", "closed_at_day_end",
                              "dossiers", "ratings")}


def wait_equal(central_url: str, hub: HubProcess, cid: str, headers: dict[str, str],
               timeout: float = 60.0, day: str = DAY) -> dict[str, Any]:
    """Poll until the central's figures of `cid` for `day` equal the center's (the central trails
    by the forwarder's interval); the last pair is asserted equal."""
    deadline = time.monotonic() + timeout
    while True:
        want = center_figures(hub, headers, day)
        got = central_figures(province(central_url, day), cid)
        if got == want or time.monotonic() > deadline:
            assert got == want, (cid, got, want)
            return want
        time.sleep(0.5)


def work(hub: HubProcess, headers: dict[str, str], visits: int, counter: int = 1,
         rate_every: int = 2) -> None:
    """Issue `visits` tickets in both fields and serve them at `counter`: every 5th a no-show, the
    rest finished with dossiers; every `rate_every`-th served visit rated."""
    for i in range(visits):
        field = "ho-tich" if i % 2 else "dat-dai"
        r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": field, "priority": False},
                          headers=headers, timeout=10)
        assert r.status_code == 201, r.text
    for i in range(visits):
        called = requests.post(f"{hub.url}/api/v1/counters/{counter}/next", headers=headers, timeout=10)
        assert called.status_code == 200, called.text
        ticket = called.json()["id"]
        if i % 5 == 4:
            r = requests.post(f"{hub.url}/api/v1/counters/{counter}/no-show", headers=headers, json={},
                              timeout=10)
        else:
            r = requests.post(f"{hub.url}/api/v1/counters/{counter}/finish", headers=headers,
                              json={"outcome": "received", "dossiers": 1 + i % 3}, timeout=10)
            assert r.status_code == 200, r.text
            if i % rate_every == 0:
                rated = requests.post(f"{hub.url}/api/v1/ratings",
                                      json={"ticket": ticket, "level": 1 + i % 3}, timeout=10)
                assert rated.status_code == 201, rated.text
        assert r.status_code == 200, r.text


def status(hub: HubProcess, headers: dict[str, str]) -> dict[str, Any]:
    r = requests.get(f"{hub.url}/api/v1/reporting/status", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_totals_equal_after_the_central_was_down(central_factory, tmp_path: Path) -> None:
    central = central_factory()
    hub = start_center(tmp_path, "xa-1", central.url, env=FAKE_NOW)
    try:
        manager = login(hub.url, "manager")
        work(hub, manager, 10)
        first = wait_equal(central.url, hub, "xa-1", manager)
        assert first["issued"] == 10 and first["no_show"] == 2

        # A late correction: a rating given after its slot was sent reaches the central as a new
        # revision of that slot, replacing it (not added to it).
        called = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich", "priority": False},
                               headers=manager, timeout=10).json()["id"]
        requests.post(f"{hub.url}/api/v1/counters/2/next", headers=manager, timeout=10).raise_for_status()
        requests.post(f"{hub.url}/api/v1/counters/2/finish", headers=manager,
                      json={"outcome": "guidance", "dossiers": 0}, timeout=10).raise_for_status()
        wait_equal(central.url, hub, "xa-1", manager)
        requests.post(f"{hub.url}/api/v1/ratings", json={"ticket": called, "level": 3},
                      timeout=10).raise_for_status()
        after = wait_equal(central.url, hub, "xa-1", manager)
        assert after["ratings"]["3"] == first["ratings"]["3"] + 1

        central.stop()
        work(hub, manager, 15, counter=2, rate_every=3)
        deadline = time.monotonic() + 30
        while not (state := status(hub, manager))["last_error"] and time.monotonic() < deadline:
            time.sleep(0.3)
        assert state["last_error"] is not None and state["enabled"] is True
        assert state["backlog"]["slots"] + state["backlog"]["batches"] > 0

        central.start()
        final = wait_equal(central.url, hub, "xa-1", manager)
        assert final["issued"] == 26
        deadline = time.monotonic() + 30
        while (state := status(hub, manager))["last_error"] and time.monotonic() < deadline:
            time.sleep(0.3)
        assert state["last_error"] is None and state["last_ack"] is not None
        assert state["backlog"]["slots"] == 0
    finally:
        hub.stop()


def test_kill9_between_send_and_ack_counts_nothing_twice(central_factory, tmp_path: Path) -> None:
    central = central_factory()
    proxy = CentralProxy(central.url)
    config = center_config(tmp_path, "xa-2", proxy.url)
    hub = HubProcess(tmp_path / "data-xa-2", free_port(), ["--demo", "--config", str(config)],
                     env=FAKE_NOW).start()
    try:
        manager = login(hub.url, "manager")
        work(hub, manager, 5)
        wait_equal(central.url, hub, "xa-2", manager)

        proxy.hold.set()
        work(hub, manager, 5)
        assert proxy.answered.wait(30), "no batch reached the central"
        held_key, held_status, stored = proxy.seen[-1]
        assert (held_status, stored) == (201, "stored")
        hub.kill9()  # the central stored the batch; the center never heard so
        proxy.hold.clear()
        proxy.release.set()

        hub.start()
        manager = login(hub.url, "manager")
        final = wait_equal(central.url, hub, "xa-2", manager)
        assert final["issued"] == 10
        # The same batch was delivered again after the restart, and the central knew it.
        assert (held_key, 200, "duplicate") in proxy.seen
        with psycopg.connect(central.dsn) as conn:
            (n,) = conn.execute("SELECT COUNT(*) FROM batches WHERE idempotency_key = %s",
                                (held_key,)).fetchone()
        assert n == 1
    finally:
        hub.stop()
        proxy.close()


def test_several_centers_at_once_totals_per_center_exact(central_factory, tmp_path: Path) -> None:
    central = central_factory()
    ids = ["xa-3", "xa-4", "xa-5"]
    hubs = {cid: start_center(tmp_path, cid, central.url, env=FAKE_NOW) for cid in ids}
    try:
        heads = {cid: login(h.url, "manager") for cid, h in hubs.items()}
        errors: list[BaseException] = []

        def run(cid: str, visits: int) -> None:
            try:
                work(hubs[cid], heads[cid], visits, counter=1 + visits % 2)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(cid, 6 + 3 * i)) for i, cid in enumerate(ids)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        issued = {cid: wait_equal(central.url, hubs[cid], cid, heads[cid])["issued"] for cid in ids}
        assert issued == {"xa-3": 6, "xa-4": 9, "xa-5": 12}
        totals = province(central.url)["totals"]
        assert totals["issued"] == 27
    finally:
        for h in hubs.values():
            h.stop()


def test_a_day_worked_while_the_central_was_down_arrives_whole(central_factory, tmp_path: Path) -> None:
    """The central is down across midnight: the end of one day (visits left open are closed by the
    day's end, a late change to slots already sent) and the start of the next reach it, each day's
    totals equal to the center's."""
    central = central_factory()
    hub = start_center(tmp_path, "xa-1", central.url, env={"QUAYSO_FAKE_NOW": f"{DAY}T23:59:00+07:00"})
    try:
        manager = login(hub.url, "manager")
        work(hub, manager, 4)
        for field in ("ho-tich", "dat-dai"):  # still waiting when the day ends
            requests.post(f"{hub.url}/api/v1/tickets", json={"service": field, "priority": False},
                          headers=manager, timeout=10).raise_for_status()
        wait_equal(central.url, hub, "xa-1", manager)
        central.stop()
        deadline = time.monotonic() + 90
        while requests.get(f"{hub.url}/api/v1/state", timeout=10).json().get("day") != "2026-12-01":
            assert time.monotonic() < deadline, "the day did not turn"
            time.sleep(1)
        work(hub, manager, 6)
        central.start()
        before = wait_equal(central.url, hub, "xa-1", manager)
        assert before["closed_at_day_end"] == 2 and before["issued"] == 6
        after = wait_equal(central.url, hub, "xa-1", manager, day="2026-12-01")
        assert after["issued"] == 6
    finally:
        hub.stop()
