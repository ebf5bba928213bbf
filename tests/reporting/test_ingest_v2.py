"""The central takes batch version 2 (version 1 plus raw events) beside version 1 (issue 12): each
(center, event id) is stored once — a batch sent twice, or two batches overlapping — in the
batch's transaction, with the per-day count the province view shows; a version it does not know,
or an event with a key outside the whitelist, is refused 400 and stores nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from .conftest import CENTER_TOKENS
from .test_central_ingest import CID, DAY, batch, encode, post, slot
from .test_central_e2e import province


def event(event_id: int, kind: str = "called", visit: str | None = "0123456789abcdef",
          **data: Any) -> dict[str, Any]:
    return {"id": event_id, "kind": kind, "at": f"{DAY}T01:{event_id % 60:02d}:00Z", "day": DAY,
            "field": "ho-tich", "counter": 1, "staff": "staff1", "visit": visit,
            "data": data or {"priority": False, "wait_seconds": 120.5}}


def batch_v2(events: list[dict[str, Any]], slots: list[dict[str, Any]] | None = None,
             sequence: int = 1) -> dict[str, Any]:
    return {**batch(slots or [], sequence=sequence), "version": 2, "events": events}


def stored(dsn: str) -> list[tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT event_id, kind FROM raw_events WHERE center_id = %s ORDER BY event_id", (CID,))]


def test_each_event_is_stored_once_and_version_1_is_still_taken(central_factory) -> None:
    central = central_factory()
    first = batch_v2([event(i) for i in range(1, 6)], [slot(3)])
    body = encode(first)
    r = post(central.url, body, first["batch_id"])
    assert r.status_code == 201, r.text
    assert r.json()["events_stored"] == 5 and r.json()["events_known"] == 0
    again = post(central.url, body, first["batch_id"])  # the same batch again: a duplicate
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    # another batch overlapping the first (events 4 and 5 again, then 6 and 7)
    overlap = batch_v2([event(i, "finished", dossiers=1, service_seconds=300.0, outcome="received")
                        for i in range(4, 8)], sequence=2)
    r = post(central.url, encode(overlap), overlap["batch_id"])
    assert r.status_code == 201 and (r.json()["events_stored"], r.json()["events_known"]) == (2, 2)
    # a version 1 batch of the same center: taken as before, no events
    old = batch([slot(4, revision=2)], sequence=3)
    r = post(central.url, encode(old), old["batch_id"])
    assert r.status_code == 201 and "events_stored" not in r.json()

    assert stored(central.dsn) == [(1, "called"), (2, "called"), (3, "called"), (4, "called"),
                                   (5, "called"), (6, "finished"), (7, "finished")]
    summary = province(central.url)
    assert summary["centers"][CID]["raw_events"] == 7 and summary["totals"]["raw_events"] == 7
    assert summary["centers"][CID]["issued"] == 4


def test_unknown_versions_and_non_whitelisted_keys_are_refused(central_factory) -> None:
    central = central_factory()
    cases = {
        "version 99": {**batch_v2([event(1)]), "version": 99},
        "version 1 with events": {**batch_v2([event(1)]), "version": 1},
        "version 2 without events": {k: v for k, v in batch_v2([]).items() if k != "events"},
        "a ticket number in data": batch_v2([event(1, number="1001")]),
        "free text as a reason": batch_v2([event(1, "cancelled", reason="Nguyễn Văn Ân bỏ về")]),
        "a ticket id as the visit": batch_v2([event(1, visit=str(uuid.uuid4()))]),
        "an extra key": batch_v2([{**event(1), "ticket_id": str(uuid.uuid4())}]),
    }
    for name, bad in cases.items():
        r = post(central.url, encode(bad), bad["batch_id"])
        assert r.status_code == 400, (name, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_batch" and error["message"] and error["message_en"], name
    assert stored(central.dsn) == []
    with psycopg.connect(central.dsn) as conn:
        assert conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 0


def test_concurrent_batches_of_one_center_are_all_stored(central_factory) -> None:
    """Batches of one center arriving at once (a re-send overlapping the next batch, a restored
    center catching up) each take the center's row lock after their batch row's foreign key took
    FOR KEY SHARE on it: with FOR UPDATE two of them deadlocked (a 503 and a retry); FOR NO KEY
    UPDATE serializes them."""
    import threading

    central = central_factory()
    batches = [batch_v2([event(10 * n + i) for i in range(1, 4)],
                        [slot(n + 1, revision=n + 1, start=f"2026-11-30T0{n % 8}:00:00Z")], sequence=n + 1)
               for n in range(16)]
    answers: list[int] = []
    start = threading.Barrier(len(batches))

    def send(b: dict[str, Any]) -> None:
        body = encode(b)
        start.wait()
        answers.append(post(central.url, body, b["batch_id"]).status_code)

    threads = [threading.Thread(target=send, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(answers) == [201] * len(batches)
    assert len(stored(central.dsn)) == 3 * len(batches)
    summary = province(central.url)["centers"][CID]
    # 8 slot starts, each kept at its highest revision: batches n and n + 8 share a start
    assert summary["issued"] == sum(n + 1 for n in range(8, 16))
    assert summary["raw_events"] == 3 * len(batches)


def test_values_the_schema_lets_through_but_postgresql_cannot_take_are_a_400(central_factory) -> None:
    """`day` is checked by pattern (YYYY-MM-DD) in the schema; 2026-02-30 matches it but is no
    date. Refused 400 `invalid_batch` (it was a 503 from PostgreSQL's cast), nothing stored — in
    an event's `day` and `at` and in a slot's `day` alike; the same for an integer beyond
    PostgreSQL's BIGINT (an event id, a revision, a sequence: the schema sets no maximum)."""
    central = central_factory()
    bad_event = {**event(1), "day": "2026-02-30"}
    bad_at = {**event(2), "at": "2026-11-30T25:61:00Z"}
    bad_slot = {**slot(2), "day": "2026-13-01"}
    for name, bad in {"event day": batch_v2([bad_event]), "event at": batch_v2([bad_at]),
                      "slot day": batch([bad_slot]), "slot day in v2": batch_v2([event(3)], [bad_slot]),
                      "event id": batch_v2([event(10 ** 19)]), "revision": batch([slot(1, revision=10 ** 19)]),
                      "sequence": batch([slot(1)], sequence=10 ** 19)}.items():
        r = post(central.url, encode(bad), bad["batch_id"])
        assert r.status_code == 400, (name, r.text)
        assert r.json()["error"]["code"] == "invalid_batch", name
    assert stored(central.dsn) == []
    with psycopg.connect(central.dsn) as conn:
        assert conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM slots").fetchone()[0] == 0
    good = batch_v2([event(4)], [slot(1)])
    assert post(central.url, encode(good), good["batch_id"]).status_code == 201


def test_a_reader_exports_the_raw_events_as_csv(central_factory) -> None:
    """GET /api/v1/province/events.csv: every stored event of the range once, in the center's
    order, with its whitelisted data; a reader's token only; bad center or range refused."""
    import csv
    import io

    import requests

    from .conftest import READER_TOKEN

    central = central_factory()
    first = batch_v2([event(i) for i in range(1, 4)]
                     + [event(4, "finished", dossiers=2, service_seconds=300.0, outcome="received"),
                        event(5, "counter_paused", visit=None, reason="break", minutes=15)])
    assert post(central.url, encode(first), first["batch_id"]).status_code == 201
    reader = {"Authorization": f"Bearer {READER_TOKEN}"}
    url = f"{central.url}/api/v1/province/events.csv"
    r = requests.get(url, params={"from": DAY, "to": DAY}, headers=reader, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv") and r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Trung tâm (center_id)" and rows[0][-1] == "Dữ liệu (data)"
    body = rows[1:]
    assert [(row[0], int(row[1]), row[2]) for row in body] == [
        (CID, 1, "called"), (CID, 2, "called"), (CID, 3, "called"), (CID, 4, "finished"),
        (CID, 5, "counter_paused")]
    assert body[3][3] == f"{DAY}T01:04:00Z" and body[3][4] == DAY and body[3][8] == "0123456789abcdef"
    assert json.loads(body[3][9]) == {"dossiers": 2, "outcome": "received", "service_seconds": 300.0}
    assert body[4][8] == ""   # a counter's pause belongs to no visit
    one = requests.get(url, params={"from": DAY, "to": DAY, "center": "xa-2"}, headers=reader, timeout=10)
    assert one.status_code == 200 and len(list(csv.reader(io.StringIO(one.text)))) == 1  # header only
    refused = {
        "no token": ({"from": DAY, "to": DAY}, {}, 401),
        "a center's token": ({"from": DAY, "to": DAY},
                             {"Authorization": f"Bearer {CENTER_TOKENS[CID]}"}, 401),
        "unknown center": ({"from": DAY, "to": DAY, "center": "xa-404"}, reader, 404),
        "over 31 days": ({"from": "2026-01-01", "to": "2026-03-01"}, reader, 400),
        "a bad date": ({"from": "2026-02-30", "to": DAY}, reader, 400),
    }
    for name, (params, headers, status) in refused.items():
        bad = requests.get(url, params=params, headers=headers, timeout=10)
        assert bad.status_code == status, (name, bad.text)
        assert bad.json()["error"]["message"] and bad.json()["error"]["message_en"], name
