"""Who is calling: staff logins (hashed passwords, expiring bearer tokens) and device tokens.

Passwords are hashed with werkzeug's standard scheme (scrypt, `PASSWORD_METHOD`); login tokens
are random, stored only as their SHA-256, and expire. Devices (kiosks, the device bridge) present a
long-lived token whose SHA-256 is in the config file. Roles: admin and manager act on any counter;
staff only on their own; a device only within its scopes.

Logins are guarded three ways (`[auth]`, `config.LoginPolicy`):

- `LoginThrottle`: failed logins are counted per username (known or not, so a lockout tells
  nothing about which names exist) and per client address in a sliding window; past the limit the
  name or address is locked (429 with Retry-After and a Vietnamese message saying until when),
  longer each time. Lockouts are stored (`login_lockouts`), so a restart does not lift them; an
  admin lifts one with `POST /api/v1/auth/unlock`.
- `HashGate`: at most `hash_concurrency` password checks run at once and `hash_queue` wait; any
  further login is answered 503 at once instead of holding the HTTP threads the queue needs.
  `LoginAdmission` applies the same bound (and a locked address's 429) in front of Flask, so a
  refused login costs microseconds, not a hash.
  (hashlib's scrypt releases the GIL while it works, so a running check costs a core, not the
  interpreter; bounding them keeps a core and the thread pool for the queue.)
- An unknown username is checked against a dummy hash of exactly the method and parameters of the
  real ones, so it costs the same time as a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from werkzeug.security import check_password_hash, gen_salt, generate_password_hash

from .config import Config, LoginPolicy
from .core.errors import Forbidden, QueueError, RateLimited, Unauthorized, Unavailable
from .core.ports import Clock
from .storage import SqliteStore

log = logging.getLogger(__name__)
# werkzeug's scrypt with its default parameters (N=2**15, r=8, p=1: 32 MiB and ~0.1 s per check on
# a Pi 4 core), spelled out so the dummy hash below can match it.
PASSWORD_METHOD = "scrypt:32768:8:1"
ACCOUNT, ADDRESS = "account", "address"
FORGET_AFTER_SECONDS = 86400  # strikes (how long the next lockout lasts) fade after a quiet day


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """A `[[staff]] password_hash`: "scrypt:32768:8:1$<salt>$<hex>" (werkzeug's format)."""
    return generate_password_hash(password, method=PASSWORD_METHOD)


def dummy_hash(real_hashes: Iterable[str] = ()) -> str:
    """A hash no password matches, with the method and parameters most of `real_hashes` use
    (`PASSWORD_METHOD` when there are none), so checking a password against it costs what
    checking against a real account costs. Built from a random salt and digest of the same
    sizes: nothing is hashed at start-up (that would cost half a second on a Pi)."""
    shapes = Counter()
    for value in real_hashes:
        parts = value.split("$")
        if len(parts) == 3:
            shapes[(parts[0], len(parts[1]), len(parts[2]))] += 1
    if shapes:
        method, salt_len, digest_len = shapes.most_common(1)[0][0]
    else:
        method, salt_len, digest_len = PASSWORD_METHOD, 16, 128
    return f"{method}${gen_salt(salt_len)}${secrets.token_hex((digest_len + 1) // 2)[:digest_len]}"


class LoginLocked(RateLimited):
    """Too many failed logins for this username or from this address (429, Retry-After)."""

    def __init__(self, kind: str, until: datetime, retry_after: float, tz: tzinfo) -> None:
        seconds = max(1, math.ceil(retry_after))
        minutes = max(1, math.ceil(seconds / 60))
        at = until.astimezone(tz).strftime("%H:%M")
        who_vi = "Tài khoản này" if kind == ACCOUNT else "Máy này"
        who_en = "this account" if kind == ACCOUNT else "this address"
        QueueError.__init__(
            self, "login_locked" if kind == ACCOUNT else "login_locked_address",
            f"{who_vi} đã đăng nhập sai quá nhiều lần và bị tạm khóa đến {at} (khoảng {minutes} phút). "
            "Vui lòng thử lại sau, hoặc nhờ quản trị viên mở khóa.",
            f"Too many failed logins for {who_en}; locked until {at} (about {minutes} min). "
            "Try again later or ask an admin to unlock it.")
        self.retry_after = seconds
        self.kind = kind


class LoginBusy(Unavailable):
    """Every password-check slot is taken and the short queue is full (503, Retry-After)."""

    def __init__(self) -> None:
        super().__init__("login_busy", "Hệ thống đang xử lý nhiều lượt đăng nhập. Vui lòng thử lại sau giây lát.",
                         "Too many logins at once; try again in a moment.")
        self.retry_after = 1


@dataclass
class _Record:
    failures: deque[float]
    strikes: int = 0
    locked_until: float = 0.0
    updated_at: float = 0.0


class LoginThrottle:
    """Failed-login counters per username and per client address, with growing lockouts.

    Times are epoch seconds from the injected clock. The failure window lives in memory;
    lockouts and their strike counts are written to the store when they change (a storm of
    refused attempts writes nothing) and read back at start. Thread-safe.
    """

    def __init__(self, policy: LoginPolicy, store: SqliteStore | None, clock: Clock,
                 tz: tzinfo = timezone.utc) -> None:
        self.policy = policy
        self.store = store
        self.clock = clock
        self.tz = tz
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], _Record] = {}
        if store is not None:
            now = self._now()
            store.drop_lockouts_before(now - FORGET_AFTER_SECONDS)
            for kind, key, strikes, until, updated in store.lockouts():
                self._records[(kind, key)] = _Record(deque(), strikes, until, updated)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _limit(self, kind: str) -> int:
        return self.policy.max_failures if kind == ACCOUNT else self.policy.address_max_failures

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        keys = [(ACCOUNT, username)]
        if address:
            keys.append((ADDRESS, address))
        return keys

    def check(self, username: str, address: str | None) -> None:
        """Raises LoginLocked if the username or the address is locked now (even a right
        password is refused then: otherwise a lockout would still answer guesses)."""
        now = self._now()
        with self._lock:
            for kind, key in self._keys(username, address):
                record = self._records.get((kind, key))
                if record is not None and record.locked_until > now:
                    raise self._locked(kind, record.locked_until, now)

    def address_lock(self, address: str | None) -> LoginLocked | None:
        """The refusal for a locked address, or None (no username needed: `LoginAdmission` asks
        before the request body is read)."""
        if not address:
            return None
        now = self._now()
        with self._lock:
            record = self._records.get((ADDRESS, address))
            if record is not None and record.locked_until > now:
                return self._locked(ADDRESS, record.locked_until, now)
        return None

    def _locked(self, kind: str, until: float, now: float) -> LoginLocked:
        return LoginLocked(kind, datetime.fromtimestamp(until, timezone.utc), until - now, self.tz)

    def failed(self, username: str, address: str | None) -> None:
        """Count one failed login; the attempt that reaches a limit starts a lockout of
        lockout_seconds * 2**(strikes - 1), at most max_lockout_seconds."""
        now = self._now()
        window = self.policy.failure_window_seconds
        with self._lock:
            if len(self._records) > 10_000:
                self._prune(now)
            for kind, key in self._keys(username, address):
                record = self._records.setdefault((kind, key), _Record(deque()))
                if record.strikes and record.updated_at <= now - FORGET_AFTER_SECONDS:
                    record.strikes = 0  # a quiet day: the next lockout is a first one again
                failures = record.failures
                while failures and failures[0] <= now - window:
                    failures.popleft()
                failures.append(now)
                record.updated_at = now
                if len(failures) >= self._limit(kind) and record.locked_until <= now:
                    record.strikes += 1
                    seconds = min(self.policy.lockout_seconds * 2 ** min(record.strikes - 1, 30),
                                  self.policy.max_lockout_seconds)
                    record.locked_until = now + seconds
                    failures.clear()
                    if self.store is not None:
                        self.store.save_lockout(kind, key, record.strikes, record.locked_until, now)

    def succeeded(self, username: str) -> None:
        """A right password: the account's failures and strikes are forgotten (its address's
        are not: one good login does not excuse twenty guesses at other names)."""
        with self._lock:
            record = self._records.pop((ACCOUNT, username), None)
            if record is not None and record.strikes and self.store is not None:
                self.store.drop_lockout(ACCOUNT, username)

    def unlock(self, username: str | None = None, address: str | None = None) -> list[dict[str, str]]:
        """An admin's unlock: forgets the failures, lockout and strikes of a username and/or an
        address. Returns what was locked ([] if neither was)."""
        now = self._now()
        unlocked = []
        with self._lock:
            for kind, key in ((ACCOUNT, username), (ADDRESS, address)):
                if key is None:
                    continue
                record = self._records.pop((kind, key), None)
                if record is not None and self.store is not None:
                    self.store.drop_lockout(kind, key)
                if record is not None and record.locked_until > now:
                    unlocked.append({"kind": kind, "key": key})
        return unlocked

    def lockouts(self) -> list[dict[str, object]]:
        """The lockouts in force now, for an admin: kind, key, locked_until (ISO), retry_after
        (seconds), strikes."""
        now = self._now()
        with self._lock:
            items = [(k, r) for k, r in self._records.items() if r.locked_until > now]
        return [{"kind": kind, "key": key, "strikes": r.strikes,
                 "locked_until": datetime.fromtimestamp(r.locked_until, timezone.utc).astimezone(self.tz).isoformat(),
                 "retry_after": math.ceil(r.locked_until - now)}
                for (kind, key), r in sorted(items, key=lambda item: item[0])]

    def _prune(self, now: float) -> None:
        """Drop records with nothing left to remember (caller holds the lock)."""
        window = self.policy.failure_window_seconds
        for k in [k for k, r in self._records.items()
                  if r.locked_until <= now and (not r.failures or r.failures[-1] <= now - window)
                  and (not r.strikes or r.updated_at <= now - FORGET_AFTER_SECONDS)]:
            del self._records[k]


class HashGate:
    """Bounds concurrent password checks: `slots` at once, `queue` more waiting at most
    `wait_seconds`; anything beyond is refused at once with LoginBusy (503)."""

    def __init__(self, slots: int, queue: int, wait_seconds: float = 5.0) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._capacity = slots + queue
        self._inside = 0
        self._lock = threading.Lock()
        self.wait_seconds = wait_seconds

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            if self._inside >= self._capacity:
                raise LoginBusy()
            self._inside += 1
        try:
            if not self._slots.acquire(timeout=self.wait_seconds):
                raise LoginBusy()
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._inside -= 1


@dataclass(frozen=True)
class Principal:
    name: str
    role: str  # admin | manager | staff | device
    counter: int | None = None
    scopes: frozenset[str] = frozenset()
    device_counters: tuple[int, ...] | None = None

    @property
    def is_device(self) -> bool:
        return self.role == "device"

    def counters_allowed(self, scope: str = "counter") -> set[int] | None:
        """The counters this caller may act on (None = every counter). Admin and manager: all;
        staff: their own; a device: those of its `counters` list (all without one), and only
        with `scope` ("counter" for counter actions, "rate" for a counter's rating screen)."""
        if self.role in ("admin", "manager"):
            return None
        if self.role == "staff":
            return {self.counter} if self.counter is not None else set()
        if scope not in self.scopes:
            return set()
        return None if self.device_counters is None else set(self.device_counters)

    def require(self, what: str) -> None:
        """`what`: issue | rate | manage | counter."""
        allowed = {
            "issue": self.role in ("admin", "manager", "staff") or "issue" in self.scopes,
            "rate": self.role in ("admin", "manager", "staff") or "rate" in self.scopes,
            "manage": self.role in ("admin", "manager"),
            "counter": self.role in ("admin", "manager", "staff") or "counter" in self.scopes,
        }[what]
        if not allowed:
            raise Forbidden("forbidden", "Tài khoản này không được phép thực hiện thao tác này.",
                            f"This account may not {what}.")


class LoginAdmission:
    """WSGI middleware in front of Flask, for `POST /api/v1/auth/login` only.

    Before the request reaches Flask: a locked address is answered 429 at once, and when
    `hash_concurrency + hash_queue` logins are already inside, 503 `login_busy`; each refusal costs
    microseconds of one of gunicorn's threads instead of a password hash. Every other request
    passes untouched. Thread-safe (gunicorn's gthread worker calls it from its pool).
    """

    def __init__(self, app: Any, auth: "Authenticator", path: str = "/api/v1/auth/login") -> None:
        self.app = app
        self.auth = auth
        self.path = path
        self.limit = auth.config.login.hash_concurrency + auth.config.login.hash_queue
        self.inside = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != self.path or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        refusal: QueueError | None = self.auth.throttle.address_lock(environ.get("REMOTE_ADDR"))
        with self._lock:
            if refusal is None and self.inside >= max(1, self.limit):
                refusal = LoginBusy()
            if refusal is None:
                self.inside += 1
        if refusal is not None:
            return _refuse(start_response, 429 if isinstance(refusal, LoginLocked) else 503, refusal)
        try:
            # Flask reads the body and answers within this call (no streamed response here)
            return list(self.app(environ, start_response))
        finally:
            with self._lock:
                self.inside -= 1


def _refuse(start_response: Any, status: int, exc: QueueError) -> list[bytes]:
    """The same JSON answer `api.error_response` gives, without Flask."""
    body = json.dumps({"error": exc.as_dict()}, ensure_ascii=False).encode("utf-8")
    reason = {429: "Too Many Requests", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("Retry-After", str(getattr(exc, "retry_after", 1)))])
    return [body]


class Authenticator:
    """Logins, logouts and bearer tokens for one hub; see the module docstring for the guards."""

    def __init__(self, config: Config, store: SqliteStore, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.throttle = LoginThrottle(config.login, store, clock, config.rules.timezone)
        self.gate = HashGate(config.login.hash_concurrency, config.login.hash_queue)
        self._dummy_hash = dummy_hash(a.password_hash for a in config.staff.values())
        methods = sorted({a.password_hash.split("$")[0] for a in config.staff.values()})
        if len(methods) > 1:
            log.warning("[[staff]] password hashes use %d methods (%s): how long a wrong password "
                        "takes can tell them apart; re-hash them with `queue-server --hash-password`",
                        len(methods), ", ".join(methods))

    def login(self, username: str, password: str,
              address: str | None = None) -> tuple[str, datetime, Principal]:
        """A new bearer token for a right username and password. `address`: the client's IP.
        Raises LoginLocked (429), LoginBusy (503) or Unauthorized (401, the same answer for an
        unknown name and a wrong password)."""
        self.throttle.check(username, address)
        account = self.config.staff.get(username)
        with self.gate.slot():
            ok = check_password_hash(account.password_hash if account else self._dummy_hash, password)
        if account is None or not ok:
            self.throttle.failed(username, address)
            raise Unauthorized("bad_credentials", "Sai tên đăng nhập hoặc mật khẩu.",
                               "Wrong username or password.")
        self.throttle.succeeded(username)
        token = secrets.token_urlsafe(32)
        expires = self.clock.now() + timedelta(hours=self.config.token_hours)
        self.store.add_session(token_sha256(token), username, expires.timestamp())
        return token, expires, self._staff(username)

    def logout(self, token: str) -> None:
        self.store.drop_session(token_sha256(token))

    def _staff(self, username: str) -> Principal:
        account = self.config.staff[username]
        return Principal(account.username, account.role, account.counter)

    def principal(self, token: str | None) -> Principal | None:
        """The caller behind a bearer token, or None if there is none; a bad one is refused."""
        if not token:
            return None
        digest = token_sha256(token)
        for device in self.config.devices:
            if hmac.compare_digest(device.token_sha256, digest):
                return Principal(device.id, "device", None, frozenset(device.scopes), device.counters)
        session = self.store.session(digest)
        if session is None or session[0] not in self.config.staff:
            raise Unauthorized("bad_token", "Phiên đăng nhập không hợp lệ. Vui lòng đăng nhập lại.",
                               "Invalid token; log in again.")
        if session[1] < self.clock.now().timestamp():
            raise Unauthorized("expired_token", "Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại.",
                               "The login has expired; log in again.")
        return self._staff(session[0])
