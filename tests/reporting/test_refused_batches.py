"""A batch the central refuses for good (HTTP 400) does not hold back the later ones (issue 12):
it is set aside with the central's answer, logged at ERROR and shown by the status API; the
next batches arrive; once the central is fixed, the technician sends it again (admin API or
`queue-server reporting retry-refused`) and nothing is lost or undone.

The refusal is the REAL central's: the proxy raises the batch's `version` to 99 and signs it again
with the center's token — what a center newer than its central sends — and the central's own
answer (400 `invalid_batch`) goes back to the center. "Fixing the central" = the proxy stops."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.conftest import ROOT, HubProcess, free_port, login
from tests.ui.conftest import open_page  # noqa: F401  (pytest fixture)

from .conftest import CENTER_TOKENS, center_config
from .proxy import CentralProxy
from .test_central_e2e import FAKE_NOW, status, wait_equal, work
from .test_raw_events import RAW_ON, central_events, center_events, wait_events

CID = "xa-3"


def wait_status(hub: HubProcess, headers: dict[str, str], ok: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not ok(state := status(hub, headers)):
        assert time.monotonic() < deadline, state
        time.sleep(0.3)
    return state


def test_a_refused_batch_is_set_aside_the_next_go_on_and_retry_sends_it(central_factory,
                                                                       tmp_path: Path) -> None:
    central = central_factory()
    proxy = CentralProxy(central.url, CENTER_TOKENS[CID])
    config = center_config(tmp_path, CID, proxy.url, extra=RAW_ON)
    hub = HubProcess(tmp_path / f"data-{CID}", free_port(), ["--demo", "--config", str(config)],
                     env=FAKE_NOW).start()
    try:
        manager, admin = login(hub.url, "manager"), login(hub.url, "admin")
        work(hub, manager, 4)
        wait_equal(central.url, hub, CID, manager)
        wait_events(central.dsn, hub, CID)

        proxy.newer_version_once.set()
        work(hub, manager, 3)
        state = wait_status(hub, manager, lambda s: s["refused"]["batches"] == 1)
        newest = state["refused"]["newest"]
        refused_key = newest["batch_id"]
        assert (refused_key, 400, "invalid_batch") in proxy.seen
        assert newest["status"] == 400 and newest["code"] == "invalid_batch"
        assert "99" in newest["message_en"] and newest["message"]
        # set aside, not retried by itself: no "last error" of a failure that will be retried
        assert state["last_error"] is None, state
        assert state["consecutive_failures"] == 0 and state["next_attempt_at"] is None
        refused_body = json.loads(next(b for b in proxy.bodies if json.loads(b)["batch_id"] == refused_key))
        assert refused_body["events"] and refused_body["version"] == 2

        # the batches after it go through: everything but the refused batch's events is there
        work(hub, manager, 3, counter=2)
        state = wait_status(hub, manager, lambda s: s["backlog"]["batches"] == 0 and s["backlog"]["slots"] == 0
                            and s["backlog"]["events"] == 0 and s["last_ack"]["sequence"] > newest["sequence"])
        assert state["refused"]["batches"] == 1
        missing = {e["id"] for e in refused_body["events"]}
        want = [m[:6] for m in center_events(hub) if m[0] not in missing]
        deadline = time.monotonic() + 30
        while [t[:6] for t in central_events(central.dsn, CID)] != want and time.monotonic() < deadline:
            time.sleep(0.3)
        assert [t[:6] for t in central_events(central.dsn, CID)] == want
        log = (hub.data.parent / f"hub-{hub.port}.log").read_text(errors="replace")
        assert "ERROR" in log and "REFUSED" in log and refused_key in log

        # the central is fixed: only an admin may send it again; then nothing is missing, and the
        # old batch, taken late, does not undo the newer figures of its slots
        r = requests.post(f"{hub.url}/api/v1/reporting/retry-refused", headers=manager, timeout=10)
        assert r.status_code == 403 and r.json()["error"]["message_en"]
        r = requests.post(f"{hub.url}/api/v1/reporting/retry-refused", headers=admin, timeout=10)
        assert r.status_code == 200 and r.json() == {"requeued": 1}
        wait_events(central.dsn, hub, CID)
        wait_equal(central.url, hub, CID, manager)
        assert (refused_key, 201, "stored") in proxy.seen
        state = wait_status(hub, manager, lambda s: s["refused"]["batches"] == 0)
        assert state["refused"]["newest"] is None

        # the same from the shell (the technician's way), with the hub running
        proxy.newer_version_once.set()
        work(hub, manager, 1)
        wait_status(hub, manager, lambda s: s["refused"]["batches"] == 1)
        done = subprocess.run([sys.executable, "-m", "queue_server", "reporting", "retry-refused",
                               "--data", str(hub.data)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "1 refused batch" in done.stdout, done.stderr
        wait_status(hub, manager, lambda s: s["refused"]["batches"] == 0 and s["backlog"]["batches"] == 0)
        wait_events(central.dsn, hub, CID)
        wait_equal(central.url, hub, CID, manager)
    finally:
        hub.stop()
        proxy.close()


def test_a_central_that_is_down_or_refuses_the_token_still_holds_the_batch(central_factory,
                                                                           tmp_path: Path,
                                                                           open_page: Any) -> None:
    """401 (a wrong token: configuration) is retried, never set aside: nothing is skipped; the
    manager page says it is tried again by itself, and when."""
    from playwright.sync_api import expect

    from tests.manager.test_ui_manager import manager_login

    central = central_factory()
    hub = HubProcess(tmp_path / "data-xa-4", free_port(),
                     ["--demo", "--config", str(center_config(tmp_path, "xa-4", central.url,
                                                              token="not-the-token-of-xa-4"))],
                     env=FAKE_NOW).start()
    try:
        manager = login(hub.url, "manager")
        work(hub, manager, 2)
        state = wait_status(hub, manager, lambda s: s["consecutive_failures"] >= 2)
        assert "401" in state["last_error"]["message"]
        assert state["refused"]["batches"] == 0 and state["backlog"]["batches"] == 1
        assert state["last_ack"] is None
        assert state["next_attempt_at"] is not None

        page = open_page(f"{hub.url}/manager")
        manager_login(page, "manager")
        error = page.locator('#reporting [data-rep="error"]')
        expect(error).to_contain_text("Lần gửi gần nhất không thành công; hệ thống sẽ tự gửi lại")
        expect(error).to_contain_text("lần thử tiếp theo lúc")
        assert "401" in (error.get_attribute("title") or "")
        expect(page.locator('#reporting [data-rep="last"]')).to_have_class("bad")
        expect(page.locator('#reporting [data-rep="refused"]')).to_have_count(0)
    finally:
        hub.stop()


def test_the_manager_page_shows_a_refusal_and_an_admin_sends_it_again(central_factory, tmp_path: Path,
                                                                     open_page: Any) -> None:
    from playwright.sync_api import expect

    from tests.manager.test_ui_manager import manager_login

    central = central_factory()
    proxy = CentralProxy(central.url, CENTER_TOKENS["xa-5"])
    config = center_config(tmp_path, "xa-5", proxy.url, extra=RAW_ON)
    # no heartbeat for 10 minutes: once the work below is taken, the refusal is the last answer
    # the forwarder had when the page loads (an acknowledged heartbeat would clear any error)
    config.write_text(config.read_text(encoding="utf-8").replace(
        "heartbeat_seconds = 10", "heartbeat_seconds = 600"), encoding="utf-8")
    hub = HubProcess(tmp_path / "data-xa-5", free_port(), ["--demo", "--config", str(config)],
                     env=FAKE_NOW).start()
    try:
        manager = login(hub.url, "manager")
        work(hub, manager, 2)
        wait_status(hub, manager, lambda s: s["last_ack"] is not None and s["backlog"]["batches"] == 0
                    and s["backlog"]["slots"] == 0 and s["backlog"]["events"] == 0)
        sent = len(proxy.seen)
        proxy.newer_version_once.set()
        r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=manager, timeout=10)
        assert r.status_code == 201, r.text  # one change: one batch, the one refused
        wait_status(hub, manager, lambda s: s["refused"]["batches"] == 1 and s["backlog"]["batches"] == 0
                    and s["backlog"]["slots"] == 0 and s["backlog"]["events"] == 0)
        assert proxy.seen[-1][1:] == (400, "invalid_batch"), proxy.seen[sent:]

        # a manager sees the refusal in the central's own Vietnamese words, and no retry button
        page = open_page(f"{hub.url}/manager")
        manager_login(page, "manager")
        refused = page.locator('#reporting [data-rep="refused"]')
        expect(refused).to_contain_text("1 lô bị máy chủ tỉnh từ chối")
        expect(refused).to_contain_text("Phiên bản lô dữ liệu không được hỗ trợ")
        expect(page.locator('#reporting [data-rep="last"]')).to_contain_text("Lô gần nhất được nhận")
        assert page.locator("#reporting-retry").is_hidden()
        # a refused batch is not resent by itself: the page does not say it will be
        expect(page.locator('#reporting [data-rep="error"]')).to_have_count(0)
        assert "tự gửi lại" not in page.locator("#reporting").inner_text()
        expect(page.locator('#reporting [data-rep="last"]')).to_have_class("ok")

        # an admin sends it again; the page then shows no refusal, and nothing is missing
        page = open_page(f"{hub.url}/manager")
        manager_login(page, "admin")
        page.click("#reporting-retry")
        expect(page.locator('#reporting [data-rep="requeued"]')).to_have_text("Đã xếp 1 lô để gửi lại")
        expect(page.locator('#reporting [data-rep="refused"]')).to_have_count(0, timeout=15000)
        expect(page.locator('#reporting [data-rep="backlog"]')).to_have_text(
            "Đang chờ gửi: 0 khung giờ, 0 lô, 0 sự kiện")
        wait_events(central.dsn, hub, "xa-5")
        wait_equal(central.url, hub, "xa-5", manager)
    finally:
        hub.stop()
        proxy.close()
