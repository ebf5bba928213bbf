"""The login guards at the adapter level: the failed-login throttle (real SQLite, injected clock),
the bound on concurrent password checks, the dummy hash, and their [auth] config keys."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from werkzeug.security import check_password_hash

from queue_server.auth import (
    PASSWORD_METHOD,
    Authenticator,
    HashGate,
    LoginBusy,
    LoginLocked,
    LoginThrottle,
    dummy_hash,
    hash_password,
)
from queue_server.config import ConfigError, LoginPolicy, parse_config
from queue_server.core.errors import Unauthorized
from queue_server.core.ports import ManualClock
from queue_server.demo import DEMO_PASSWORD_HASH, demo_config, demo_config_text
from queue_server.storage import SqliteStore

START = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)  # 08:00 in Hà Nội
POLICY = LoginPolicy(max_failures=3, address_max_failures=10, failure_window_seconds=600,
                     lockout_seconds=60, max_lockout_seconds=200)


def fail(throttle: LoginThrottle, times: int, username: str = "staff1", address: str = "10.0.0.5") -> None:
    for _ in range(times):
        throttle.check(username, address)
        throttle.failed(username, address)


def retry_after(throttle: LoginThrottle, username: str = "staff1", address: str | None = "10.0.0.5") -> int:
    with pytest.raises(LoginLocked) as err:
        throttle.check(username, address)
    return err.value.retry_after


def test_lockouts_grow_up_to_the_cap_and_survive_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(START)
    store = SqliteStore(tmp_path / "q.sqlite3")
    throttle = LoginThrottle(POLICY, store, clock, ZoneInfo("Asia/Ho_Chi_Minh"))
    fail(throttle, 2)
    throttle.check("staff1", "10.0.0.5")  # two failures: not yet
    throttle.failed("staff1", "10.0.0.5")
    with pytest.raises(LoginLocked) as err:
        throttle.check("staff1", None)
    assert err.value.code == "login_locked" and err.value.retry_after == 60
    assert "08:01" in err.value.message_vi, "the local time it ends, in the center's time zone"
    throttle.check("staff2", "10.0.0.6")  # other names and addresses are free

    clock.advance(seconds=61)
    fail(throttle, 3)
    assert retry_after(throttle) == 120, "the second lockout lasts twice as long"
    clock.advance(seconds=121)
    fail(throttle, 3)
    assert retry_after(throttle) == 200, "capped at max_lockout_seconds"

    store.close()  # a restart: the lockout is read back
    store = SqliteStore(tmp_path / "q.sqlite3", lock_folder=False)
    again = LoginThrottle(POLICY, store, clock)
    assert retry_after(again, address=None) == 200
    assert [(x["kind"], x["key"], x["strikes"]) for x in again.lockouts()] == [("account", "staff1", 3)]
    assert again.unlock(username="staff1") == [{"kind": "account", "key": "staff1"}]
    again.check("staff1", None)
    assert again.unlock(username="staff1") == [], "nothing left to unlock"
    fail(again, 3, "staff2")
    clock.advance(seconds=61)
    fail(again, 3, "staff2")
    assert retry_after(again, "staff2", None) == 120
    clock.advance(days=1, seconds=121)
    fail(again, 3, "staff2")
    assert retry_after(again, "staff2", None) == 60, "after a quiet day the strikes are forgotten"
    again.unlock(username="staff2")
    store.close()
    assert SqliteStore(tmp_path / "q.sqlite3", lock_folder=False).lockouts() == []


def test_failures_slide_out_of_the_window_and_a_good_login_forgets_them(tmp_path: Path) -> None:
    clock = ManualClock(START)
    throttle = LoginThrottle(POLICY, None, clock)
    fail(throttle, 2)
    clock.advance(seconds=601)
    fail(throttle, 2)  # the first two have left the window
    throttle.check("staff1", "10.0.0.5")
    throttle.succeeded("staff1")
    fail(throttle, 2)
    throttle.check("staff1", "10.0.0.5")
    # but the address keeps the failures in its window whatever the name: 4 so far, locked at 10
    for n in range(5):
        throttle.failed(f"ten-{n}", "10.0.0.5")
    throttle.check("staff9", "10.0.0.5")
    throttle.failed("ten-5", "10.0.0.5")
    with pytest.raises(LoginLocked) as err:
        throttle.check("staff9", "10.0.0.5")
    assert err.value.code == "login_locked_address" and err.value.retry_after == 60


def test_the_dummy_hash_uses_the_real_hashes_method_and_matches_nothing() -> None:
    assert hash_password("x").startswith(PASSWORD_METHOD + "$")
    assert DEMO_PASSWORD_HASH.startswith(PASSWORD_METHOD + "$")
    for real in ([], [DEMO_PASSWORD_HASH], [hash_password("a"), hash_password("b")]):
        dummy = dummy_hash(real)
        method, salt, digest = dummy.split("$")
        model = (real or [hash_password("z")])[0].split("$")
        assert (method, len(salt), len(digest)) == (model[0], len(model[1]), len(model[2]))
        assert not check_password_hash(dummy, "") and not check_password_hash(dummy, "demo")
    # an older pbkdf2 config gets a pbkdf2 dummy with the same iterations
    legacy = "pbkdf2:sha256:600000$abcdefghijklmnop$" + "0" * 64
    assert dummy_hash([legacy, legacy, DEMO_PASSWORD_HASH]).startswith("pbkdf2:sha256:600000$")


def test_an_unknown_name_and_a_wrong_password_get_the_same_answer(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.sqlite3")
    auth = Authenticator(demo_config(), store, ManualClock(START))
    answers = []
    for username in ("staff1", "khong-co-ai"):
        with pytest.raises(Unauthorized) as err:
            auth.login(username, "wrong", "10.0.0.5")
        answers.append(err.value.as_dict())
    assert answers[0] == answers[1]
    store.close()


def test_the_gate_runs_a_few_checks_queues_a_few_and_refuses_the_rest() -> None:
    gate = HashGate(slots=1, queue=1, wait_seconds=30)
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def hold() -> None:
        with gate.slot():
            order.append("first")
            inside.set()
            release.wait(30)

    def wait_for_slot() -> None:
        with gate.slot():
            order.append("queued")

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(30)
    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    # the waiter is queued once it has taken its place; a third login is then refused at once
    for _ in range(3000):
        with gate._lock:
            if gate._inside == 2:
                break
        threading.Event().wait(0.01)
    with pytest.raises(LoginBusy) as err:
        with gate.slot():
            pass
    assert err.value.code == "login_busy" and err.value.retry_after == 1
    release.set()
    holder.join(30)
    waiter.join(30)
    assert order == ["first", "queued"]
    with gate.slot():  # free again
        pass


@pytest.mark.parametrize(("text", "key"), [
    ("max_failures = 0", "auth.max_failures"),
    ("hash_concurrency = 99", "auth.hash_concurrency"),
    ('lockout_seconds = "60"', "auth.lockout_seconds"),
    ("lockout_seconds = 600\nmax_lockout_seconds = 60", "auth.max_lockout_seconds"),
    ("lockouts = 3", "auth.lockouts"),
])
def test_bad_auth_keys_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(demo_config_text() + f"\n[auth]\n{text}\n", "center.toml")
    assert err.value.key == key and err.value.line is not None


def test_auth_keys_are_read() -> None:
    config = parse_config(demo_config_text() + "\n[auth]\nmax_failures = 8\nhash_queue = 0\n", "center.toml")
    assert config.login == LoginPolicy(max_failures=8, hash_queue=0)


def test_login_admission_refuses_before_flask(tmp_path: Path) -> None:
    """In front of Flask: at most hash_concurrency + hash_queue logins inside; the next one, and
    any login from a locked address, is answered there at once; other paths pass."""
    import json
    import threading

    from queue_server.auth import LoginAdmission

    store = SqliteStore(tmp_path / "q.sqlite3")
    cfg = dataclasses.replace(demo_config(), login=LoginPolicy(hash_concurrency=1, hash_queue=1,
                                                               address_max_failures=2))
    auth = Authenticator(cfg, store, ManualClock(START))
    for n in range(2):
        auth.throttle.failed(f"ten-{n}", "10.0.0.9")
    release = threading.Event()
    reached: list[str] = []
    lock = threading.Lock()

    def inner(environ: dict[str, Any], start_response: Any) -> list[bytes]:  # Flask
        with lock:
            reached.append(environ["REMOTE_ADDR"])
        release.wait(10)
        start_response("401 Unauthorized", [])
        return [b"{}"]

    gate = LoginAdmission(inner, auth)

    def call(address: str, path: str = "/api/v1/auth/login") -> tuple[str, int, str, dict[str, str]]:
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

        body = b"".join(gate({"REQUEST_METHOD": "POST", "PATH_INFO": path, "REMOTE_ADDR": address},
                             start_response)).decode()
        code = json.loads(body)["error"]["code"] if body != "{}" else ""
        return address, answer["status"], code, {k.lower(): v for k, v in answer["headers"].items()}

    def in_thread(*args: str) -> tuple[threading.Thread, list[Any]]:
        box: list[Any] = []
        thread = threading.Thread(target=lambda: box.append(call(*args)))
        thread.start()
        return thread, box

    def wait_reached(n: int) -> None:
        for _ in range(1000):
            with lock:
                if len(reached) >= n:
                    return
            threading.Event().wait(0.005)
        raise AssertionError(reached)

    first, second = in_thread("10.0.0.1"), in_thread("10.0.0.2")
    wait_reached(2)
    busy, locked = call("10.0.0.3"), call("10.0.0.9")  # answered while two logins are inside
    ticket = in_thread("10.0.0.4", "/api/v1/tickets")
    wait_reached(3)
    release.set()
    for thread, _ in (first, second, ticket):
        thread.join(10)
    later = call("10.0.0.5")
    store.close()
    assert reached == ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5"]
    assert busy[1:3] == (503, "login_busy") and busy[3]["retry-after"] == "1"
    assert locked[1:3] == (429, "login_locked_address") and int(locked[3]["retry-after"]) == 60
    assert [a[0][1] for a in (first[1], second[1], ticket[1])] + [later[1]] == [401, 401, 401, 401], \
        "they reached the app"
