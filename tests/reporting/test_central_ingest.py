"""The central refuses what it must and logs it (issue 12): a tampered body, a wrong token, a
replayed key with a changed body, a batch of another center, a malformed batch — each refused,
recorded in `refusals`, nothing stored — while good batches (and a real center's) still pass;
merge by revision; the province view's bad input; exports."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from openpyxl import load_workbook

from queue_server.central.registry import RegistryError, parse_registry
from queue_server.forwarder import HISTOGRAM_BOUNDS_MIN, signature

from .conftest import CENTER_TOKENS
from .test_central_e2e import DAY, FAKE_NOW, READER, login, province, start_center, wait_equal, work

CID = "xa-1"


def slot(issued: int, revision: int = 1, field: str = "ho-tich", start: str = "2026-11-30T01:00:00Z",
         rated: int = 0) -> dict[str, Any]:
    hist = [0] * (len(HISTOGRAM_BOUNDS_MIN) + 1)
    hist[3] = issued
    return {"day": DAY, "field": field, "slot_start": start, "revision": revision, "issued": issued,
            "served": issued, "no_show": 0, "cancelled": 0, "closed_at_day_end": 0, "print_failed": 0,
            "open": 0, "dossiers": issued, "wait": {"count": issued, "sum_s": 200.0 * issued,
                                                    "histogram": hist, "within_target": issued},
            "service": {"count": issued, "sum_s": 300.0 * issued, "histogram": hist},
            "clock_anomalies": 0,
            "ratings": [{"staff": "staff1", "level": 1, "count": rated}] if rated else []}


def batch(slots: list[dict[str, Any]], cid: str = CID, sequence: int = 1) -> dict[str, Any]:
    return {"schema": "quay-so/reporting-batch", "version": 1, "center_id": cid,
            "batch_id": str(uuid.uuid4()), "sequence": sequence, "created_at": f"{DAY}T01:20:00+00:00",
            "slot_seconds": 900, "histogram_bounds_min": list(HISTOGRAM_BOUNDS_MIN),
            "target_wait_min": 15.0, "rating_levels": ["Rất hài lòng", "Hài lòng", "Chưa hài lòng"],
            "slots": slots}


def post(url: str, body: bytes, key: str, token: str = CENTER_TOKENS[CID], sig: str | None = None
         ) -> requests.Response:
    return requests.post(f"{url}/api/v1/ingest", data=body, timeout=10, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}", "Idempotency-Key": key,
        "X-Signature": sig if sig is not None else signature(token, body)})


def encode(b: dict[str, Any]) -> bytes:
    return json.dumps(b, ensure_ascii=False).encode()


def refusals(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT center_id, idempotency_key, status, code FROM refusals ORDER BY id").fetchall()


def test_refused_batches_are_logged_and_change_nothing(central_factory, tmp_path: Path) -> None:
    central = central_factory()
    good = batch([slot(4)])
    body = encode(good)
    r = post(central.url, body, good["batch_id"])
    assert r.status_code == 201 and r.json()["status"] == "stored"
    assert province(central.url)["centers"][CID]["issued"] == 4

    # The same batch again (a retry): stored once.
    r = post(central.url, body, good["batch_id"])
    assert r.status_code == 200 and r.json()["status"] == "duplicate"

    # Tampered on the way: signature of the original body, a changed body.
    tampered = body.replace(b'"issued": 4', b'"issued": 40')
    assert tampered != body
    r = post(central.url, tampered, good["batch_id"], sig=signature(CENTER_TOKENS[CID], body))
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_signature"
    assert r.json()["error"]["message"] and r.json()["error"]["message_en"]

    # A wrong token (and one of another center signing for this one).
    r = post(central.url, body, good["batch_id"], token="not-a-token-of-anybody-here")
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_token"
    r = post(central.url, body, good["batch_id"], token=CENTER_TOKENS["xa-2"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_center"

    # A replayed old key with a changed (and properly signed) body.
    changed = encode({**good, "slots": [slot(9, revision=2)]})
    r = post(central.url, changed, good["batch_id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "key_reused"

    # Malformed: not JSON, a schema violation, a header key that is not the batch's.
    bad_json = b'{"schema": '
    r = post(central.url, bad_json, str(uuid.uuid4()))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    negative = batch([{**slot(1), "served": -1}])
    r = post(central.url, encode(negative), negative["batch_id"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_batch"
    other = batch([slot(1)])
    r = post(central.url, encode(other), str(uuid.uuid4()))
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_idempotency_key"

    assert province(central.url)["centers"][CID]["issued"] == 4  # nothing of the above counted
    codes = [row[3] for row in refusals(central.dsn)]
    assert codes == ["bad_signature", "bad_token", "wrong_center", "key_reused", "invalid_json",
                     "invalid_batch", "bad_idempotency_key"]
    log = central.log()
    assert "ingest refused (409 key_reused) center=xa-1" in log
    assert "ingest refused (401 bad_signature)" in log

    # Good batches still pass: a newer revision of the slot replaces it, an older one is ignored.
    newer = batch([slot(6, revision=3, rated=2)], sequence=2)
    r = post(central.url, encode(newer), newer["batch_id"])
    assert r.status_code == 201 and r.json()["slots_applied"] == 1
    older = batch([slot(5, revision=2)], sequence=3)
    r = post(central.url, encode(older), older["batch_id"])
    assert r.status_code == 201 and r.json() | {"batch_id": None} == {
        "status": "stored", "batch_id": None, "slots_applied": 0, "slots_stale": 1}
    c = province(central.url)["centers"][CID]
    assert (c["issued"], c["ratings"]["1"]) == (6, 2)

    # And a real center's batches go through the same central after all this.
    hub = start_center(tmp_path, "xa-3", central.url, env=FAKE_NOW)
    try:
        manager = login(hub.url, "manager")
        work(hub, manager, 4)
        wait_equal(central.url, hub, "xa-3", manager)
    finally:
        hub.stop()


def test_province_view_needs_a_reader_and_checks_its_dates(central_factory) -> None:
    central = central_factory()
    url = f"{central.url}/api/v1/province/summary"
    assert requests.get(url, timeout=10).status_code == 401
    center_token = {"Authorization": f"Bearer {CENTER_TOKENS[CID]}"}
    assert requests.get(url, headers=center_token, timeout=10).status_code == 401  # a center is no reader
    for params in ({"from": "2026-13-01"}, {"from": "30/11/2026"}, {"from": "2026-12-02", "to": "2026-12-01"},
                   {"from": "2020-01-01", "to": "2026-01-01"}, {"from": "2026-11-30\x00"}):
        r = requests.get(url, params=params, headers=READER, timeout=10)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["message"] and r.json()["error"]["message_en"]
    data = province(central.url)
    # every center of the centers file is listed; none has reported yet: all flagged
    assert set(data["centers"]) == set(CENTER_TOKENS)
    assert data["not_reporting"] == sorted(CENTER_TOKENS)
    assert all(c["issued"] == 0 and c["reporting"] is False for c in data["centers"].values())
    r = requests.get(f"{central.url}/api/v1/ingest", timeout=10)
    assert r.status_code == 405


def test_exports_have_vietnamese_headers_and_the_same_figures(central_factory) -> None:
    central = central_factory()
    b = batch([slot(3, rated=2), slot(5, field="dat-dai", start="2026-11-30T01:15:00Z")])
    assert post(central.url, encode(b), b["batch_id"]).status_code == 201
    params = {"from": DAY, "to": DAY}
    r = requests.get(f"{central.url}/api/v1/province/summary.csv", params=params, headers=READER, timeout=10)
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Mã trung tâm", "Tên trung tâm", "Lượt tiếp nhận", "Đã phục vụ"]
    mine = next(row for row in rows if row[0] == CID)
    assert mine[2:4] == ["8", "8"]
    assert "Rất hài lòng (lượt)" in rows[0] and mine[rows[0].index("Rất hài lòng (lượt)")] == "2"
    assert rows[-1][1] == "Toàn tỉnh" and rows[-1][2] == "8"
    r = requests.get(f"{central.url}/api/v1/province/summary.xlsx", params=params, headers=READER, timeout=10)
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[1][:3] == ["Mã trung tâm", "Tên trung tâm", "Lượt tiếp nhận"]
    assert next(v for v in values if v[0] == CID)[2] == 8
    # p50/p90 merged from histogram buckets: all 8 waits fall in the bucket up to 4 minutes
    c = province(central.url)["centers"][CID]
    assert c["wait_min"] == {"avg": round(200 / 60, 2), "p50": 4.0, "p90": 4.0}
    assert c["within_target_pct"] == 100.0


def test_a_bad_centers_file_is_refused_with_its_entry() -> None:
    ok = f'[[centers]]\nid = "xa-1"\nname = "X"\ntoken = "{"t" * 16}"\n'
    assert set(parse_registry(ok).centers) == {"xa-1"}
    cases = {
        '[[centers]]\nid = "xa-1"\nname = "X"\ntoken = "short"\n': "[[centers]][0].token",
        '[[centers]]\nid = "Xa 1"\nname = "X"\ntoken = "' + "t" * 16 + '"\n': "[[centers]][0].id",
        ok + ok.replace('"t', '"u'): "listed twice",
        ok + f'[[readers]]\nname = "R"\ntoken = "{"t" * 16}"\n': "already used",
        '[[centers]]\nid = "xa-1"\nname = "X"\ntoken = "' + "t" * 16 + '"\ncolour = 1\n': "unknown key",
        "[centres]\n": "unknown table",
        "[[centers]\n": "centers",
    }
    for text, expected in cases.items():
        with pytest.raises(RegistryError, match=__import__("re").escape(expected)):
            parse_registry(text)
    # each names its line: the key's own, or the entry's header when the key is missing
    lines = {
        '[[centers]]\nid = "xa-1"\nname = "X"\ntoken = "short"\n': "centers, line 4: [[centers]][0].token:",
        ok + '\n[[centers]]\nid = "xa-2"\nname = "Y"\n': "centers, line 6: [[centers]][1].token: is required",
        ok + ok.replace('"t', '"u'): "centers, line 6: [[centers]][1].id: 'xa-1' is listed twice",
    }
    for text, expected in lines.items():
        with pytest.raises(RegistryError) as refused:
            parse_registry(text)
        assert str(refused.value).startswith(expected), str(refused.value)


def test_central_refuses_a_bad_centers_file_at_start(central_factory) -> None:
    central = central_factory(start=False)
    central.centers_file.write_text('[[centers]]\nid = "xa-1"\n', encoding="utf-8")
    with pytest.raises(RuntimeError, match="exited with 2"):
        central.start(timeout=20)
    assert "[[centers]][0].name: is required" in central.log()


def test_the_day_rollup_equals_a_rebuild_from_the_slots(central_factory) -> None:
    """The view reads `center_days`, rewritten by each batch; rebuilding it from the slots (the
    backfill of migration 0002) gives the same view."""
    from queue_server.central.db import MIGRATIONS_DIR

    central = central_factory()
    sent = [
        batch([slot(3, rated=2), slot(5, field="dat-dai", start="2026-11-30T01:15:00Z")]),
        batch([slot(4, revision=2, rated=3), slot(2, field="dat-dai", start="2026-11-30T02:00:00Z")], sequence=2),
        batch([slot(1, revision=1)], sequence=3),  # stale: ignored
        batch([{**slot(6, start="2026-11-30T03:00:00Z"), "day": "2026-12-01"}], sequence=4),
    ]
    for b in sent:
        assert post(central.url, encode(b), b["batch_id"]).status_code == 201
    params = {"from": "2026-11-30", "to": "2026-12-01"}

    def view() -> dict[str, Any]:
        data = requests.get(f"{central.url}/api/v1/province/summary", params=params, headers=READER,
                            timeout=10).json()
        data.pop("generated_at")
        return data

    before = view()
    assert before["centers"][CID]["issued"] == 4 + 5 + 2 + 6
    assert before["centers"][CID]["ratings"]["1"] == 3
    backfill = (MIGRATIONS_DIR / "0002_center_days.sql").read_text(encoding="utf-8")
    backfill = backfill[backfill.index("INSERT INTO center_days"):]
    with psycopg.connect(central.dsn) as conn:
        conn.execute("DELETE FROM center_days")
        conn.execute("DELETE FROM center_day_ratings")
        conn.execute(backfill.encode())
    assert view() == before
