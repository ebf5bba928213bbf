"""Who is calling: staff logins (hashed passwords, expiring bearer tokens) and device tokens.

Passwords are hashed with werkzeug's standard scheme (scrypt); login tokens are random, stored
only as their SHA-256, and expire. Devices (kiosks, the device bridge) present a long-lived token
whose SHA-256 is in the config file. Roles: admin and manager act on any counter; staff only on
their own; a device only within its scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from .config import Config
from .core.errors import Forbidden, Unauthorized
from .core.ports import Clock
from .storage import SqliteStore

# Compared against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="pbkdf2:sha256:1000")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return generate_password_hash(password)


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


class Authenticator:
    def __init__(self, config: Config, store: SqliteStore, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock

    def login(self, username: str, password: str) -> tuple[str, datetime, Principal]:
        account = self.config.staff.get(username)
        ok = check_password_hash(account.password_hash if account else _DUMMY_HASH, password)
        if account is None or not ok:
            raise Unauthorized("bad_credentials", "Sai tên đăng nhập hoặc mật khẩu.",
                               "Wrong username or password.")
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
