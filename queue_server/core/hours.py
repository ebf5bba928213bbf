"""Working hours: when tickets may be issued (SPEC §3 'Hours').

A center lists its sessions per weekday (Saturday sessions are the center's choice; there is no
national rule), closed dates, and a cut-off: issuing stops N minutes before a session closes so that
the last citizens can still be served. An empty `WorkingHours()` is open around the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")

Session = tuple[time, time]


@dataclass(frozen=True)
class IssuingWindow:
    """Whether issuing is open at a moment, and if not, why, in both languages."""

    open: bool
    reason: str | None = None  # closed_day | before_open | between_sessions | after_cutoff | after_close
    message_vi: str = ""
    message_en: str = ""


def _fmt(sessions: tuple[Session, ...]) -> str:
    return ", ".join(f"{a:%H:%M}–{b:%H:%M}" for a, b in sessions)


@dataclass(frozen=True)
class WorkingHours:
    weekly: dict[int, tuple[Session, ...]] = field(default_factory=dict)  # 0 = Monday
    cutoff_minutes: int = 0
    closed_dates: frozenset[date] = frozenset()
    always_open: bool = True

    def sessions_on(self, day: date) -> tuple[Session, ...]:
        if day in self.closed_dates:
            return ()
        return self.weekly.get(day.weekday(), ())

    def issuing_window(self, local_now: datetime) -> IssuingWindow:
        """Issuing is open inside a session and before its cut-off; `local_now` is local time."""
        if self.always_open:
            return IssuingWindow(True)
        today = local_now.date()
        sessions = self.sessions_on(today)
        if not sessions:
            return IssuingWindow(
                False,
                "closed_day",
                "Hôm nay Trung tâm không làm việc. Xin mời quay lại vào ngày làm việc.",
                "The center is closed today. Please come back on a working day.",
            )
        now_t = local_now.time().replace(tzinfo=None)
        hours_vi = f"Giờ làm việc hôm nay: {_fmt(sessions)}."
        hours_en = f"Today's hours: {_fmt(sessions)}."
        for start, end in sessions:
            cutoff = (datetime.combine(today, end) - timedelta(minutes=self.cutoff_minutes)).time()
            if start <= now_t < end:
                if now_t < cutoff:
                    return IssuingWindow(True)
                return IssuingWindow(
                    False,
                    "after_cutoff",
                    f"Đã ngừng cấp số (trước giờ nghỉ {self.cutoff_minutes} phút). {hours_vi}",
                    f"Issuing has stopped ({self.cutoff_minutes} minutes before closing). {hours_en}",
                )
        if now_t < sessions[0][0]:
            reason = "before_open"
        elif now_t >= sessions[-1][1]:
            reason = "after_close"
        else:
            reason = "between_sessions"
        return IssuingWindow(
            False,
            reason,
            f"Ngoài giờ làm việc. {hours_vi}",
            f"Outside working hours. {hours_en}",
        )
