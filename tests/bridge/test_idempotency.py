"""Idempotency-Key on counter actions and ratings (issue 10): a request repeated after a lost reply
is answered from the hub's record and never acts twice. Real hub process, real HTTP."""

from __future__ import annotations

import requests

from tests.conftest import DEVICE


def _issue(hub, n: int = 3) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
        assert r.status_code == 201, r.text


def _current(hub, n: int):  # type: ignore[no-untyped-def]
    counters = requests.get(f"{hub.url}/api/v1/counters", timeout=10).json()["counters"]
    return next(c for c in counters if c["counter"] == n)["current"]


def test_next_replayed_with_the_same_key_calls_one_ticket(hub) -> None:  # type: ignore[no-untyped-def]
    _issue(hub)
    headers = {**DEVICE, "Idempotency-Key": "rs485-1234abcd-2f1c-5"}
    first = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=headers, timeout=10)
    assert first.status_code == 200, first.text
    again = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=headers, timeout=10)
    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["number"] == first.json()["number"]
    assert _current(hub, 1)["number"] == first.json()["number"]
    # A new key is a new press: the next ticket.
    other = requests.post(f"{hub.url}/api/v1/counters/1/next",
                          headers={**DEVICE, "Idempotency-Key": "rs485-1234abcd-2f1c-6"}, timeout=10)
    assert other.status_code == 200
    assert other.json()["number"] != first.json()["number"]
    assert "Idempotent-Replayed" not in other.headers


def test_next_with_nobody_waiting_stays_nobody_on_replay(hub) -> None:  # type: ignore[no-untyped-def]
    headers = {**DEVICE, "Idempotency-Key": "empty-1"}
    assert requests.post(f"{hub.url}/api/v1/counters/2/next", headers=headers, timeout=10).status_code == 204
    _issue(hub, 1)
    replay = requests.post(f"{hub.url}/api/v1/counters/2/next", headers=headers, timeout=10)
    assert replay.status_code == 204
    assert _current(hub, 2) is None


def test_rating_replayed_records_one_rating(hub) -> None:  # type: ignore[no-untyped-def]
    _issue(hub, 1)
    assert requests.post(f"{hub.url}/api/v1/counters/1/next", headers=DEVICE, timeout=10).status_code == 200
    assert requests.post(f"{hub.url}/api/v1/counters/1/finish", json={"outcome": "received"},
                         headers=DEVICE, timeout=10).status_code == 200
    headers = {**DEVICE, "Idempotency-Key": "rate-1"}
    first = requests.post(f"{hub.url}/api/v1/counters/1/rating", json={"level": 2}, headers=headers, timeout=10)
    assert first.status_code == 201, first.text
    again = requests.post(f"{hub.url}/api/v1/counters/1/rating", json={"level": 2}, headers=headers, timeout=10)
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["level"] == 2 and again.json()["number"] == first.json()["number"]
    # Without the key, the same rating is refused by the one-rating-per-ticket rule: the replay
    # above really answered from the record instead of rating again.
    plain = requests.post(f"{hub.url}/api/v1/counters/1/rating", json={"level": 2}, headers=DEVICE, timeout=10)
    assert plain.status_code in (404, 409), plain.text


def test_key_reused_for_another_route_or_bad_key_is_refused(hub) -> None:  # type: ignore[no-untyped-def]
    _issue(hub, 1)
    headers = {**DEVICE, "Idempotency-Key": "k-1"}
    assert requests.post(f"{hub.url}/api/v1/counters/1/next", headers=headers, timeout=10).status_code == 200
    reused = requests.post(f"{hub.url}/api/v1/counters/1/recall", headers=headers, timeout=10)
    assert reused.status_code == 409
    body = reused.json()["error"]
    assert body["code"] == "idempotency_key_reused" and body["message"] and body["message_en"]
    bad = requests.post(f"{hub.url}/api/v1/counters/1/recall",
                        headers={**DEVICE, "Idempotency-Key": "bad key/with spaces"}, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_idempotency_key"


def test_key_survives_a_hub_restart(hub) -> None:  # type: ignore[no-untyped-def]
    _issue(hub, 2)
    headers = {**DEVICE, "Idempotency-Key": "restart-1"}
    first = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=headers, timeout=10)
    assert first.status_code == 200
    hub.kill9()
    hub.start()
    again = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=headers, timeout=10)
    assert again.status_code == 200 and again.json()["number"] == first.json()["number"]
    assert _current(hub, 1)["number"] == first.json()["number"]


def test_racing_repeats_of_one_key_call_one_ticket(hub) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor
    _issue(hub, 5)
    headers = {**DEVICE, "Idempotency-Key": "race-1"}

    def post(_: int) -> requests.Response:
        return requests.post(f"{hub.url}/api/v1/counters/1/next", headers=headers, timeout=20)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["number"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") != "true" for a in answers) == 1
    assert _current(hub, 1)["number"] == answers[0].json()["number"]
    health = requests.get(f"{hub.url}/healthz", timeout=10)
    assert health.status_code == 200, health.text
