"""Configuration in the browser (issue 11): fields, counters, staff accounts, hours and rating
labels edited by an admin, checked by the config file's own rules, kept across restarts, applied
without one, and written to an audit log.

How it relates to the TOML file: the file seeds every section. A section an admin saves in the
browser is stored whole in the database (`config_sections`, schema v6) and from then on replaces
the file's section of that name at every start; the other sections still come from the file.
"Revert to the file" (`DELETE /api/v1/config/<section>`) drops the stored section. Each change is
checked by building the whole configuration with `config.config_from_tables` — the same function
that checks the file (no second set of rules) — and nothing is stored or applied unless it passes.

Sections (their TOML shape, docs/configuration.md): `fields`, `counters`, `hours` (weekdays incl.
`sat`, the Saturday sessions), `ratings` (labels; the number of levels is fixed while running) and
`staff` (accounts; an account may also carry `disabled = true`, which keeps it but refuses its
logins and tokens). Staff passwords are stored only as hashes and never answered or audited.

Applied at once: the queue service's rules (`QueueService.replace_rules`), the logins
(`Authenticator.config`) and the publisher's counter zones; pages read the service's rules on
each request, so the kiosk, TV and panels show a renamed field on their next `state` or refresh.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from .auth import hash_password
from .config import Config, ConfigError, config_from_tables
from .core.errors import Conflict, InvalidRequest, NotFound

log = logging.getLogger(__name__)

SECTIONS = ("fields", "counters", "staff", "hours", "ratings")
# sections an admin replaces whole (staff accounts change one by one: passwords are never sent back)
REPLACEABLE = ("fields", "counters", "hours", "ratings")
SECTION_NAMES_VI = {"fields": "lĩnh vực", "counters": "quầy", "staff": "tài khoản",
                    "hours": "giờ làm việc", "ratings": "mức đánh giá"}
MIN_PASSWORD_LENGTH = 8


def _account_table(account: Any) -> dict[str, Any]:
    out = {"username": account.username, "name": account.name, "role": account.role,
           "password_hash": account.password_hash}
    if account.counter is not None:
        out["counter"] = account.counter
    return out


def _public_account(entry: dict[str, Any]) -> dict[str, Any]:
    """A staff entry as the page and the audit log see it: without its password hash."""
    return {k: v for k, v in entry.items() if k != "password_hash"}


class CenterSettings:
    """The configuration as edited in the browser, over the file's (see the module docstring).

    `base`: the config the hub was started with (file plus --demo accounts); `store`: a
    `storage.SqliteStore`; `clock`: the hub's clock; `apply(config)`: makes a new config effective
    (called with the lock held, after it is stored). Thread-safe."""

    def __init__(self, base: Config, store: Any, clock: Any, apply: Callable[[Config], None]) -> None:
        self.base = base
        self.store = store
        self.clock = clock
        self._apply = apply
        self._lock = threading.Lock()
        seed = copy.deepcopy(base.tables) if base.tables else {}
        # every account the hub started with (the file's, and --demo's) is the staff seed
        seed["staff"] = [_account_table(a) for a in base.staff.values()]
        self.seed = seed
        self.saved: dict[str, Any] = {}
        self.config = base

    def load(self) -> Config:
        """Build the effective config from the file and the stored sections (at start). A stored
        section that the file no longer fits (e.g. counters serving a field the file removed) is
        left out — logged, the file's section applies — and the others still apply; saving that
        section again in the browser replaces it."""
        with self._lock:
            stored = self.store.config_sections()
            saved: dict[str, Any] = {}
            for name in SECTIONS:  # fields before counters before staff: each may rely on those
                if name not in stored:
                    continue
                try:
                    self._build({**saved, name: stored[name]})
                except ConfigError as exc:
                    log.error("the %s saved in the browser no longer fit the config file (%s); "
                              "using the file's until an admin saves them again", name, exc)
                    continue
                saved[name] = stored[name]
            self.config = self._build(saved) if saved else self.base
            self.saved = saved
            if saved:
                log.info("config sections from the browser: %s", ", ".join(sorted(saved)))
            return self.config

    # ----------------------------------------------------------------------------- reading
    def tables(self, section: str) -> Any:
        """A section as now in effect (stored, else the file's), in its TOML shape."""
        return copy.deepcopy(self.saved.get(section, self.seed.get(section)))

    def view(self) -> dict[str, Any]:
        """Every editable section as in effect (staff without password hashes), which ones come
        from the browser, and the file they otherwise come from."""
        with self._lock:
            return self.view_unlocked()

    # ----------------------------------------------------------------------------- changing
    def _build(self, saved: dict[str, Any]) -> Config:
        tables = {**copy.deepcopy(self.seed), **copy.deepcopy(saved)}
        staff = tables.get("staff") or []
        tables["staff"] = [{k: v for k, v in e.items() if k != "disabled"}
                           for e in staff if isinstance(e, dict) and not e.get("disabled")]
        for key in [k for k, v in tables.items() if v is None]:
            del tables[key]
        built = config_from_tables(tables, "browser settings")
        # what the browser does not edit stays as the hub started: devices, [auth], sections…
        return dataclasses.replace(
            self.base, rules=built.rules, staff=built.staff, tables=built.tables)

    def _check_running(self, new: Config) -> None:
        """Changes the running hub cannot take: no admin left (nobody could change anything
        again), fewer/more rating levels (ratings already given are stored by level number), or
        removing a field or counter that has open tickets."""
        if any(a.role == "admin" for a in self.config.staff.values()) and not any(
                a.role == "admin" for a in new.staff.values()):
            raise Conflict("last_admin",
                           "Không thể khóa hoặc đổi vai trò quản trị viên cuối cùng.",
                           "The last admin account cannot be disabled or given another role.")
        old = self.config.rules
        if len(new.rules.rating_levels) != len(old.rating_levels):
            raise InvalidRequest(
                "rating_levels_count",
                "Chỉ được đổi tên các mức đánh giá; đổi số mức cần sửa tệp cấu hình và khởi động lại.",
                "Rating levels can be renamed here; changing how many there are needs the config "
                "file and a restart.")
        removed_fields = set(old.fields) - set(new.rules.fields)
        removed_counters = set(old.counters) - set(new.rules.counters)
        if not removed_fields and not removed_counters:
            return
        busy = self._busy()
        for fid in sorted(removed_fields & busy["fields"]):
            raise Conflict("field_in_use", f"Lĩnh vực '{fid}' còn số đang chờ hôm nay, chưa thể xóa.",
                           f"Field '{fid}' still has tickets waiting today; it cannot be removed yet.")
        for n in sorted(removed_counters & busy["counters"]):
            raise Conflict("counter_in_use", f"Quầy {n} đang phục vụ, chưa thể xóa.",
                           f"Counter {n} is serving a ticket; it cannot be removed yet.")

    # what open tickets use now: {"fields": {ids}, "counters": {numbers}} (`busy_in`)
    busy_source: Callable[[], dict[str, set[Any]]] | None = None

    def _busy(self) -> dict[str, set[Any]]:
        if self.busy_source is None:
            return {"fields": set(), "counters": set()}
        return self.busy_source()

    def _commit(self, section: str, value: Any, actor: str,
                audit: list[tuple[str, str, Any, Any]]) -> Config:
        """Check, store with its audit entries, apply. Lock held by the caller."""
        saved = dict(self.saved)
        if value is None:
            saved.pop(section, None)
        else:
            saved[section] = value
        try:
            new = self._build(saved)
        except ConfigError as exc:
            raise InvalidRequest(
                "invalid_config",
                f"Cấu hình {SECTION_NAMES_VI.get(section, section)} không hợp lệ, chưa lưu gì "
                f"({exc.key}: {str(exc).split(': ', 2)[-1]}).",
                f"Invalid {section}: {exc}") from None
        self._check_running(new)
        self.store.save_config_section(section, value, actor, self.clock.now().timestamp(), audit)
        self.saved = saved
        self.config = new
        self._apply(new)
        return new

    def replace(self, section: str, value: Any, actor: str) -> dict[str, Any]:
        """Replace a whole section (REPLACEABLE) with `value` (its TOML shape, as JSON). Raises
        NotFound (unknown section), InvalidRequest (any rule of the file broken: nothing changed)
        or Conflict (removing what open tickets use)."""
        if section not in REPLACEABLE:
            raise NotFound("unknown_section", "Không có mục cấu hình này.",
                           f"No editable section '{section}' (one of {', '.join(REPLACEABLE)}; "
                           "staff accounts have their own routes).")
        with self._lock:
            before = self.tables(section)
            self._commit(section, value, actor, [("replace", section, before, value)])
            return self.view_unlocked()

    def revert(self, section: str, actor: str) -> dict[str, Any]:
        """Drop the browser's version of `section`: the file's applies again."""
        if section not in SECTIONS:
            raise NotFound("unknown_section", "Không có mục cấu hình này.",
                           f"No editable section '{section}'.")
        with self._lock:
            if section not in self.saved:
                return self.view_unlocked()
            before = self.tables(section)
            after = copy.deepcopy(self.seed.get(section))
            if section == "staff":
                before = [_public_account(e) for e in before or []]
                after = [_public_account(e) for e in after or []]
            self._commit(section, None, actor, [("revert_to_file", section, before, after)])
            return self.view_unlocked()

    def view_unlocked(self) -> dict[str, Any]:
        """`view` for a caller that holds the lock."""
        sections = {name: self.tables(name) for name in SECTIONS}
        sections["staff"] = [_public_account(e) for e in sections["staff"] or []]
        sections["hours"] = sections["hours"] or {}
        sections["ratings"] = sections["ratings"] or {}
        return {"sections": sections, "from_browser": sorted(self.saved), "file": self.base.source}

    # ----------------------------------------------------------------------------- staff
    def _staff(self) -> list[dict[str, Any]]:
        return self.tables("staff") or []

    @staticmethod
    def _password(password: str) -> str:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidRequest("weak_password",
                                 f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự.",
                                 f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
        return hash_password(password)

    def create_account(self, data: dict[str, Any], actor: str) -> dict[str, Any]:
        """A new account {username, name, role, counter?, password}. Conflict if the username
        exists (disabled or not); InvalidRequest for anything the file's rules refuse."""
        with self._lock:
            staff = self._staff()
            if any(e.get("username") == data["username"] for e in staff):
                raise Conflict("username_taken", "Tên đăng nhập này đã có.",
                               "That username already exists.")
            entry = {"username": data["username"], "name": data.get("name") or data["username"],
                     "role": data.get("role", "staff")}
            if data.get("counter") is not None:
                entry["counter"] = data["counter"]
            entry["password_hash"] = self._password(data["password"])
            self._commit("staff", [*staff, entry], actor,
                         [("create_account", entry["username"], None, _public_account(entry))])
            return _public_account(entry)

    def _find(self, staff: list[dict[str, Any]], username: str) -> dict[str, Any]:
        for entry in staff:
            if entry.get("username") == username:
                return entry
        raise NotFound("unknown_account", "Không có tài khoản này.", "No such account.")

    def update_account(self, username: str, changes: dict[str, Any], actor: str) -> dict[str, Any]:
        """Change an account's name, role, counter (None: none) or `disabled`."""
        with self._lock:
            staff = self._staff()
            entry = self._find(staff, username)
            before = _public_account(entry)
            for key in ("name", "role"):
                if key in changes:
                    entry[key] = changes[key]
            if "counter" in changes:
                if changes["counter"] is None:
                    entry.pop("counter", None)
                else:
                    entry["counter"] = changes["counter"]
            if "disabled" in changes:
                if changes["disabled"]:
                    entry["disabled"] = True
                else:
                    entry.pop("disabled", None)
            action = ("disable_account" if changes.get("disabled") else
                      "enable_account" if changes.get("disabled") is False else "update_account")
            self._commit("staff", staff, actor, [(action, username, before, _public_account(entry))])
            return _public_account(entry)

    def reset_password(self, username: str, password: str, actor: str) -> dict[str, Any]:
        """A new password for an account (its old logins stay valid until they expire or the
        account is disabled). The audit log says that it changed, never the hash."""
        with self._lock:
            staff = self._staff()
            entry = self._find(staff, username)
            entry["password_hash"] = self._password(password)
            self._commit("staff", staff, actor, [("reset_password", username, None, None)])
            return _public_account(entry)

    def audit(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest audit entries (see storage.config_audit), `at` as an ISO time in the
        center's zone."""
        from datetime import datetime, timezone

        tz = self.config.rules.timezone
        return [{**e, "at": datetime.fromtimestamp(e["at"], timezone.utc).astimezone(tz).isoformat()}
                for e in self.store.config_audit(limit)]


def busy_in(service: Any, store: Any) -> dict[str, set[Any]]:
    """The fields with tickets waiting today and the counters serving one or holding a ticket
    transferred to them: what a change may not remove while the hub runs."""
    snap = service.snapshot(None)
    day = service.today()
    fields = {fid for fid, n in snap["waiting"].items() if n}
    counters = {c["counter"] for c in snap["counters"] if c.get("current")}
    with store.reading() as tx:
        for field_id, target, count in tx.waiting_by_target(day):
            if count:
                fields.add(field_id)
                if target is not None:
                    counters.add(target)
    return {"fields": fields, "counters": counters}
