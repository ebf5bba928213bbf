"""The report tables in the centers' own formats (issue 11; reference reports in
/work/shared/reference, described in docs/statistics.md), built from `stats.compute`'s answer.

Each table is plain data (`Table`): a title, optional group headers (the reports' "Trong đó:"
row), columns with a Vietnamese and an English header and a kind, and rows of raw values (int,
Decimal percent, float minutes, text). The exports (exports.py) and the report page render the
same tables; numbers are formatted only there (number_format.py).

Percentages of a whole (the satisfaction tables) are shares to two places that add up to exactly
100,00: the largest-remainder method (`shares`). Figures that are not parts of one whole (a rate
of no-shows, a share within the target wait) are rounded on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Sequence

from .core.models import CenterRules

HUNDREDTHS = Decimal("0.01")


def shares(counts: Sequence[int]) -> list[Decimal | None]:
    """Percent of each count in their sum, two places, adding up to exactly 100.00.

    Largest remainder (Hamilton): each share in hundredths of a percent is rounded down, then the
    hundredths still missing go one each to the counts with the largest remainders (ties: the
    larger count, then the earlier column). All None when the sum is 0. Example (reference report
    000, Q1/2024): 3.279 / 32 / 0 of 3.311 → 99.03 / 0.97 / 0.00. Raises ValueError on a
    negative count."""
    if any(c < 0 for c in counts):
        raise ValueError("counts must not be negative")
    total = sum(counts)
    if total == 0:
        return [None] * len(counts)
    exact = [(10000 * c) // total for c in counts]
    remainders = [(10000 * c) % total for c in counts]
    missing = 10000 - sum(exact)
    order = sorted(range(len(counts)), key=lambda i: (-remainders[i], -counts[i], i))
    for i in order[:missing]:
        exact[i] += 1
    return [Decimal(v).scaleb(-2) for v in exact]


def rate(value: float | None) -> Decimal | None:
    """A stats percent (float, 2 places) as a Decimal for the tables; None stays None."""
    return None if value is None else Decimal(str(value)).quantize(HUNDREDTHS)


@dataclass(frozen=True)
class Column:
    """One column: headers in both languages and the kind of its values — "text", "int",
    "pct" (percent, 2 places), "min" (minutes, 2 places) or "dec" (2 places)."""

    vi: str
    en: str
    kind: str = "int"


@dataclass
class Table:
    """One report table. `groups`: the first header row as (vi, en, columns spanned) — the
    reports' "Trong đó:" / level names over their (count, percent) pairs — or empty."""

    key: str
    title_vi: str
    title_en: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    groups: list[tuple[str, str, int]] = field(default_factory=list)
    note_vi: str = ""
    note_en: str = ""
    summary_rows: int = 0  # the last rows are totals / averages (Tổng cộng, Trung bình …)

    def title(self, lang: str) -> str:
        return self.title_vi if lang == "vi" else self.title_en

    def headers(self, lang: str) -> list[str]:
        return [c.vi if lang == "vi" else c.en for c in self.columns]

    def group_headers(self, lang: str) -> list[tuple[str, int]]:
        return [(vi if lang == "vi" else en, span) for vi, en, span in self.groups]


def _level_en(label: str) -> str:
    from .pages import RATING_LABELS_EN  # the one list of English rating labels

    return RATING_LABELS_EN.get(label.strip(), label)


def satisfaction_table(data: dict[str, Any], rules: CenterRules) -> Table:
    """"Kết quả đánh giá mức độ hài lòng" as reference report 000 prints it: the total, then each
    configured level with Số lượt and Đạt tỷ lệ (%)."""
    sat = data["satisfaction"]
    counts = [lv["count"] for lv in sat["levels"]]
    columns = [Column("Tổng số công dân, tổ chức tham gia đánh giá",
                      "Citizens and organisations who rated")]
    row: list[Any] = [sat["total"]]
    for label, count, share in zip(rules.rating_levels, counts, shares(counts)):
        columns += [Column(label, _level_en(label)), Column("Đạt tỷ lệ (%)", "Share (%)", "pct")]
        row += [count, share]
    return Table("satisfaction", "Kết quả đánh giá mức độ hài lòng của công dân, tổ chức",
                 "Citizen and organisation satisfaction", columns, [row],
                 groups=[("", "", 1), ("Trong đó:", "Of which:", 2 * len(counts))], summary_rows=1)


def staff_ratings_table(data: dict[str, Any], rules: CenterRules,
                        names: dict[str, str] | None = None) -> Table:
    """Ratings per staff member, as reference report 003 counts them: Công chức tiếp nhận |
    Tổng số phiếu | each level: số phiếu, tỷ lệ (%); the last row is the whole center."""
    names = names or {}
    columns = [Column("Công chức tiếp nhận", "Staff member", "text"),
               Column("Tổng số phiếu", "Ratings")]
    groups: list[tuple[str, str, int]] = [("", "", 2)]
    for label in rules.rating_levels:
        columns += [Column("Số phiếu", "Count"), Column("Tỷ lệ (%)", "Share (%)", "pct")]
        groups.append((label, _level_en(label), 2))

    def row(name: str, sat: dict[str, Any]) -> list[Any]:
        counts = [lv["count"] for lv in sat["levels"]]
        out: list[Any] = [name, sat["total"]]
        for count, share in zip(counts, shares(counts)):
            out += [count, share]
        return out

    rows = [row(names.get(s["staff"], s["staff"]), s["satisfaction"])
            for s in data["by_staff"] if s["satisfaction"]["total"]]
    rows.append(row("Tổng cộng", data["satisfaction"]))
    return Table("staff-ratings", "Kết quả đánh giá công chức tiếp nhận",
                 "Ratings per staff member", columns, rows, groups=groups, summary_rows=1)


_FIELD_COLUMNS = [
    ("issued", Column("Lượt lấy số", "Tickets issued")),
    ("served", Column("Lượt được phục vụ", "Served")),
    ("transferred", Column("Chuyển tiếp", "Transferred on")),
    ("no_show", Column("Vắng mặt", "No-show")),
    ("cancelled", Column("Đã hủy", "Cancelled")),
    ("dossiers", Column("Hồ sơ tiếp nhận trực tiếp", "Dossiers received in person")),
]
_TIME_COLUMNS = [
    ("wait_min", "avg", Column("Chờ trung bình (phút)", "Average wait (min)", "min")),
    ("wait_min", "median", Column("Chờ trung vị (phút)", "Median wait (min)", "min")),
    ("wait_min", "p90", Column("Chờ P90 (phút)", "90th percentile wait (min)", "min")),
    ("service_min", "avg", Column("Phục vụ trung bình (phút)", "Average service (min)", "min")),
]


def fields_table(data: dict[str, Any]) -> Table:
    """Per field, like the appendices of reference report 001 (STT | Tên | counts…), with the
    whole center as the last row."""
    target = data["target_wait_min"]
    within = Column(f"Tỷ lệ chờ không quá {target:g} phút (%)",
                    f"Waited at most {target:g} min (%)", "pct")
    columns = [Column("STT", "No."), Column("Lĩnh vực", "Field", "text"),
               *(c for _, c in _FIELD_COLUMNS), *(c for *_, c in _TIME_COLUMNS), within]

    def cells(block: dict[str, Any]) -> list[Any]:
        return [*(block[k] for k, _ in _FIELD_COLUMNS),
                *(block[a][b] for a, b, _ in _TIME_COLUMNS), rate(block["within_target_pct"])]

    rows: list[list[Any]] = [[i, s["name"], *cells(s)]
                             for i, s in enumerate(data["by_service"], start=1)]
    rows.append(["", "Tổng cộng", *cells(data["totals"])])
    return Table("fields", "Kết quả tiếp công dân theo lĩnh vực", "Visits per field", columns, rows,
                 note_vi="Một lượt được chuyển lĩnh vực được tính ở mỗi lĩnh vực đã phục vụ và "
                         "một lần ở dòng Tổng cộng.",
                 note_en="A transferred visit counts in every field that served it and once in "
                         "the total.", summary_rows=1)


def counters_table(data: dict[str, Any]) -> Table:
    """Per counter: served, no-shows, dossiers, waits and service times, pauses."""
    columns = [Column("Quầy", "Counter", "text"), Column("Lượt được phục vụ", "Served"),
               Column("Vắng mặt", "No-show"), Column("Hồ sơ tiếp nhận trực tiếp", "Dossiers"),
               *(c for *_, c in _TIME_COLUMNS), Column("Số lần tạm ngưng", "Pauses"),
               Column("Thời gian tạm ngưng (phút)", "Paused (min)", "min")]
    rows = [[c["name"], c["served"], c["no_show"], c["dossiers"],
             *(c[a][b] for a, b, _ in _TIME_COLUMNS), c["pauses"], c["paused_min"]]
            for c in data["by_counter"]]
    return Table("counters", "Kết quả phục vụ theo quầy", "Service per counter", columns, rows)


def visits_daily_table(data: dict[str, Any]) -> Table:
    """"Lượt tiếp công dân" and "hồ sơ tiếp nhận trực tiếp" per day, the period's total and the
    average per working day (reference reports 000 and 004)."""
    columns = [Column("Ngày", "Day", "text"), Column("Lượt tiếp công dân", "Citizens served"),
               Column("Hồ sơ tiếp nhận trực tiếp", "Dossiers received in person")]
    rows: list[list[Any]] = [[date.fromisoformat(d["day"]), d["served"], d["dossiers"]]
                             for d in data["by_day"] if d["issued"]]
    rows.append(["Tổng cộng", data["totals"]["served"], data["totals"]["dossiers"]])
    rows.append(["Trung bình mỗi ngày", _dec(data["served_per_day"]), _dec(data["dossiers_per_day"])])
    return Table("visits-daily", "Lượt tiếp công dân và hồ sơ tiếp nhận trực tiếp theo ngày",
                 "Citizens served and dossiers received per day", columns, rows, summary_rows=2)


def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(HUNDREDTHS)


def staff_monthly_table(data: dict[str, Any], names: dict[str, str] | None = None) -> Table:
    """Per staff member per month: citizens served and dossiers received in person, then the
    average per staff member per month (reference report 000: "hồ sơ/người/tháng")."""
    names = names or {}
    columns = [Column("Công chức", "Staff member", "text"), Column("Tháng", "Month", "text"),
               Column("Lượt tiếp công dân", "Citizens served"),
               Column("Hồ sơ tiếp nhận trực tiếp", "Dossiers received in person")]
    entries = data["by_staff_month"]
    rows: list[list[Any]] = [
        [names.get(e["staff"], e["staff"]), f"{e['month'][5:]}/{e['month'][:4]}", e["served"], e["dossiers"]]
        for e in entries]
    n = len(entries)
    rows.append(["Trung bình mỗi người mỗi tháng", "",
                 _dec(round(sum(e["served"] for e in entries) / n, 2)) if n else None,
                 _dec(round(sum(e["dossiers"] for e in entries) / n, 2)) if n else None])
    return Table("staff-monthly", "Lượt tiếp công dân và hồ sơ tiếp nhận theo công chức, theo tháng",
                 "Citizens served and dossiers per staff member per month", columns, rows,
                 summary_rows=1)


def hours_table(data: dict[str, Any]) -> Table:
    """Load per hour of the day: tickets issued, per open day, and their waits."""
    columns = [Column("Giờ", "Hour", "text"), Column("Lượt lấy số", "Tickets issued"),
               Column("Trung bình mỗi ngày", "Per day", "dec"),
               Column("Chờ trung bình (phút)", "Average wait (min)", "min"),
               Column("Chờ P90 (phút)", "90th percentile wait (min)", "min")]
    rows = [[f"{h['hour']:02d}:00–{h['hour'] + 1:02d}:00", h["issued"], _dec(h["issued_per_day"]),
             h["wait_min"]["avg"], h["wait_min"]["p90"]] for h in data["by_hour"]]
    return Table("hours", "Lượt lấy số theo giờ trong ngày", "Tickets per hour of the day", columns, rows)


WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")


def weekdays_table(data: dict[str, Any]) -> Table:
    """Load per weekday: tickets issued, per such day, and waits."""
    columns = [Column("Thứ", "Weekday", "text"), Column("Số ngày", "Days"),
               Column("Lượt lấy số", "Tickets issued"), Column("Trung bình mỗi ngày", "Per day", "dec"),
               Column("Chờ trung bình (phút)", "Average wait (min)", "min")]
    rows = [[WEEKDAYS_VI[w["weekday"]], w["days"], w["issued"], _dec(w["issued_per_day"]),
             w["wait_min"]["avg"]] for w in data["by_weekday"]]
    return Table("weekdays", "Lượt lấy số theo thứ trong tuần", "Tickets per weekday", columns, rows)


def summary_table(data: dict[str, Any]) -> Table:
    """The period at a glance: one line per figure."""
    t = data["totals"]
    columns = [Column("Chỉ tiêu", "Figure", "text"), Column("Giá trị", "Value", "dec")]
    rows: list[list[Any]] = [
        ["Lượt lấy số", t["issued"]], ["Lượt tiếp công dân (được phục vụ)", t["served"]],
        ["Vắng mặt", t["no_show"]], ["Tỷ lệ vắng mặt (%)", rate(t["no_show_pct"])],
        ["Đã hủy", t["cancelled"]], ["Tỷ lệ hủy (%)", rate(t["cancelled_pct"])],
        ["Đóng khi hết ngày", t["closed_at_day_end"]],
        ["In vé lỗi (không tính lượt)", t["print_failed"]],
        ["Hồ sơ tiếp nhận trực tiếp", t["dossiers"]],
        ["Số ngày có lượt lấy số", data["days_with_visits"]],
        ["Hồ sơ tiếp nhận trung bình mỗi ngày", _dec(data["dossiers_per_day"])],
        ["Chờ trung bình (phút)", _dec(t["wait_min"]["avg"])],
        ["Chờ trung vị (phút)", _dec(t["wait_min"]["median"])],
        ["Chờ P90 (phút)", _dec(t["wait_min"]["p90"])],
        ["Phục vụ trung bình (phút)", _dec(t["service_min"]["avg"])],
        [f"Tỷ lệ chờ không quá {data['target_wait_min']:g} phút (%)", rate(t["within_target_pct"])],
    ]
    return Table("summary", "Tổng hợp", "Summary", columns, rows)


# English for the fixed labels the tables put in their first column.
LABELS_EN = {
    "Tổng cộng": "Total", "Trung bình mỗi ngày": "Average per day",
    "Trung bình mỗi người mỗi tháng": "Average per staff member per month",
    "Lượt lấy số": "Tickets issued", "Lượt tiếp công dân (được phục vụ)": "Citizens served",
    "Vắng mặt": "No-show", "Tỷ lệ vắng mặt (%)": "No-show rate (%)", "Đã hủy": "Cancelled",
    "Tỷ lệ hủy (%)": "Cancellation rate (%)", "Đóng khi hết ngày": "Closed at day end",
    "In vé lỗi (không tính lượt)": "Print failed (not a visit)",
    "Hồ sơ tiếp nhận trực tiếp": "Dossiers received in person",
    "Số ngày có lượt lấy số": "Days with visits",
    "Hồ sơ tiếp nhận trung bình mỗi ngày": "Dossiers per day",
    "Chờ trung bình (phút)": "Average wait (min)", "Chờ trung vị (phút)": "Median wait (min)",
    "Chờ P90 (phút)": "90th percentile wait (min)", "Phục vụ trung bình (phút)": "Average service (min)",
    **dict(zip(WEEKDAYS_VI, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"))),
}


def label(text: str, lang: str) -> str:
    """A fixed first-column label in `lang` (names of fields, staff and counters stay as set)."""
    if lang == "vi":
        return text
    if text.startswith("Tỷ lệ chờ không quá "):
        return "Waited at most " + text.removeprefix("Tỷ lệ chờ không quá ").replace(" phút", " min")
    return LABELS_EN.get(text, text)


TABLES = ("summary", "satisfaction", "staff-ratings", "fields", "counters", "visits-daily",
          "staff-monthly", "hours", "weekdays")


def build(key: str, data: dict[str, Any], rules: CenterRules,
          names: dict[str, str] | None = None) -> Table:
    """The table `key` (one of TABLES) of the statistics `data`. Raises KeyError otherwise."""
    builders = {
        "summary": lambda: summary_table(data),
        "satisfaction": lambda: satisfaction_table(data, rules),
        "staff-ratings": lambda: staff_ratings_table(data, rules, names),
        "fields": lambda: fields_table(data),
        "counters": lambda: counters_table(data),
        "visits-daily": lambda: visits_daily_table(data),
        "staff-monthly": lambda: staff_monthly_table(data, names),
        "hours": lambda: hours_table(data),
        "weekdays": lambda: weekdays_table(data),
    }
    return builders[key]()
