"""The province view (SPEC §8; issue 12): every center over a date range — visits, served,
no-show, waiting and service time (avg, p50, p90), within-target share, the satisfaction table —
and whether each center is still reporting; and its XLSX/CSV exports (Vietnamese headers).

Percentiles are merged from the slots' histogram buckets (forwarder.HISTOGRAM_BOUNDS_MIN): the
nearest-rank percentile's bucket, reported as that bucket's upper bound in minutes (an upper
estimate at bucket resolution; the open last bucket reports its lower bound). Averages are exact
(sum / count). A center "stopped reporting" when no batch, not even the forwarder's heartbeat
(every 5 minutes by default), arrived for `STALE_MINUTES`.

The view reads the per-center per-day rollup (`center_days`, `center_day_ratings`) that the ingest
rewrites with each batch, not the slots themselves.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Any

from psycopg_pool import ConnectionPool

from ..forwarder import HISTOGRAM_BOUNDS_MIN
from .registry import Registry

STALE_MINUTES = 15
DEFAULT_LEVELS = ("Rất hài lòng", "Hài lòng", "Chưa hài lòng")
_COUNTS = ("issued", "served", "no_show", "cancelled", "closed_at_day_end", "print_failed", "open",
           "dossiers")


def _percentile(hist: list[int], q: float) -> float | None:
    total = sum(hist)
    if not total:
        return None
    rank = max(1, -(-int(q * total * 1000) // 1000))
    seen = 0
    for i, n in enumerate(hist):
        seen += n
        if seen >= rank:
            return float(HISTOGRAM_BOUNDS_MIN[min(i, len(HISTOGRAM_BOUNDS_MIN) - 1)])
    return None


def _times(count: int, sum_s: float, hist: list[int]) -> dict[str, float | None]:
    return {"avg": round(sum_s / count / 60.0, 2) if count else None,
            "p50": _percentile(hist, 0.5), "p90": _percentile(hist, 0.9)}


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _block(row: dict[str, Any], wait_hist: list[int], service_hist: list[int],
           ratings: dict[int, int], levels: tuple[str, ...]) -> dict[str, Any]:
    rated = sum(ratings.values())
    return {
        **{k: int(row.get(k) or 0) for k in _COUNTS},
        "wait_min": _times(int(row.get("wait_count") or 0), float(row.get("wait_sum_s") or 0), wait_hist),
        "service_min": _times(int(row.get("service_count") or 0), float(row.get("service_sum_s") or 0),
                              service_hist),
        "within_target_pct": _pct(int(row.get("wait_within_target") or 0), int(row.get("wait_count") or 0)),
        "ratings": {str(lv): ratings.get(lv, 0) for lv in range(1, max(len(levels), max(ratings, default=0)) + 1)},
        "satisfaction": {"total": rated, "levels": [
            {"level": i, "label": label, "count": ratings.get(i, 0), "percent": _pct(ratings.get(i, 0), rated)}
            for i, label in enumerate(levels, start=1)]},
    }


def _add(into: list[int], hist: list[int] | None) -> list[int]:
    hist = list(hist or [])
    if len(into) < len(hist):
        into.extend([0] * (len(hist) - len(into)))
    for i, n in enumerate(hist):
        into[i] += n
    return into


def summary(pool: ConnectionPool, registry: Registry, first: date, last: date,
            now: datetime | None = None) -> dict[str, Any]:
    """The province view of `first`..`last` (centers' local days, inclusive): `centers` keyed by
    center id (every center of the centers file, and any other with data), each with `name`,
    the counts (`issued`, `served`, `no_show`, …), `wait_min`/`service_min` (avg, p50, p90),
    `within_target_pct`, `ratings` per level ("1": count…), `satisfaction`, `raw_events` (raw
    events stored for those days; 0 for a center that does not send them), `last_batch_at`,
    `reporting` (false: stopped reporting); and `totals` over all centers."""
    now = now or datetime.now(timezone.utc)
    sums = ", ".join(f"SUM({k}) AS {k}" for k in (*_COUNTS, "wait_count", "wait_sum_s",
                                                   "wait_within_target", "service_count", "service_sum_s"))
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT center_id, {sums} FROM center_days WHERE day BETWEEN %s AND %s GROUP BY center_id",
                    (first, last))
        names = [d.name for d in cur.description or []]
        rows = {r[0]: dict(zip(names, r)) for r in cur.fetchall()}
        hists: dict[tuple[str, str], list[int]] = {}
        for column in ("wait_hist", "service_hist"):
            cur.execute(f"SELECT s.center_id, u.i, SUM(u.n) FROM center_days s, unnest(s.{column}) WITH "
                        "ORDINALITY AS u(n, i) WHERE s.day BETWEEN %s AND %s GROUP BY 1, 2", (first, last))
            for center_id, i, n in cur.fetchall():
                h = hists.setdefault((center_id, column), [])
                _add(h, [0] * (int(i) - 1) + [int(n)])
        cur.execute("SELECT center_id, level, SUM(count) FROM center_day_ratings WHERE day BETWEEN %s AND %s "
                    "GROUP BY 1, 2", (first, last))
        ratings: dict[str, dict[int, int]] = {}
        for center_id, level, n in cur.fetchall():
            ratings.setdefault(center_id, {})[int(level)] = int(n)
        cur.execute("SELECT center_id, SUM(events) FROM center_day_events WHERE day BETWEEN %s AND %s "
                    "GROUP BY 1", (first, last))
        raw_events = {center_id: int(n) for center_id, n in cur.fetchall()}
        cur.execute("SELECT id, name, rating_levels, last_batch_at FROM centers ORDER BY id")
        centers = cur.fetchall()
    levels = next((tuple(c[2]) for c in centers if c[2]), DEFAULT_LEVELS)
    out: dict[str, Any] = {}
    total_row: dict[str, float] = {}
    total_wait: list[int] = []
    total_service: list[int] = []
    total_ratings: dict[int, int] = {}
    for center_id, name, _levels, last_batch in centers:
        if center_id not in registry.centers and center_id not in rows:
            continue
        row = rows.get(center_id, {})
        wait = hists.get((center_id, "wait_hist"), [])
        service = hists.get((center_id, "service_hist"), [])
        rated = ratings.get(center_id, {})
        stale = last_batch is None or (now - last_batch).total_seconds() > STALE_MINUTES * 60
        out[center_id] = {"name": name, **_block(row, wait, service, rated, levels),
                          "raw_events": raw_events.get(center_id, 0),
                          "last_batch_at": last_batch.isoformat() if last_batch else None,
                          "reporting": not stale}
        for k, v in row.items():
            if k != "center_id" and v is not None:
                total_row[k] = total_row.get(k, 0) + float(v)
        _add(total_wait, wait)
        _add(total_service, service)
        for lv, n in rated.items():
            total_ratings[lv] = total_ratings.get(lv, 0) + n
    return {
        "from": first.isoformat(), "to": last.isoformat(),
        "generated_at": now.isoformat(), "stale_after_min": STALE_MINUTES,
        "rating_levels": list(levels), "centers": out,
        "totals": {**_block(total_row, total_wait, total_service, total_ratings, levels),
                   "raw_events": sum(c["raw_events"] for c in out.values())},
        "not_reporting": sorted(c for c, v in out.items() if not v["reporting"]),
    }


def export_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(Vietnamese headers, rows: one per center then the province's total) of a summary, the
    raw events included; "Đang báo cáo" stays last (`export_xlsx` shades a row by it)."""
    levels = data["rating_levels"]
    headers = ["Mã trung tâm", "Tên trung tâm", "Lượt tiếp nhận", "Đã phục vụ", "Vắng mặt", "Đã hủy",
               "Số hồ sơ", "Chờ trung bình (phút)", "Chờ trung vị (phút)", "Chờ P90 (phút)",
               "Phục vụ trung bình (phút)", "Tỷ lệ chờ trong hạn (%)", "Tổng lượt đánh giá",
               *[f"{label} (lượt)" for label in levels], *[f"{label} (%)" for label in levels],
               "Sự kiện gốc", "Đang báo cáo"]

    def line(cid: str, name: str, b: dict[str, Any], reporting: str) -> list[Any]:
        sat = b["satisfaction"]
        return [cid, name, b["issued"], b["served"], b["no_show"], b["cancelled"], b["dossiers"],
                b["wait_min"]["avg"], b["wait_min"]["p50"], b["wait_min"]["p90"],
                b["service_min"]["avg"], b["within_target_pct"], sat["total"],
                *[lv["count"] for lv in sat["levels"]], *[lv["percent"] for lv in sat["levels"]],
                b["raw_events"], reporting]

    rows = [line(cid, c["name"], c, "Có" if c["reporting"] else "KHÔNG") for cid, c in data["centers"].items()]
    rows.append(line("", "Toàn tỉnh", data["totals"], ""))
    return headers, rows


def export_csv(data: dict[str, Any]) -> bytes:
    """CSV, UTF-8 with a BOM (so spreadsheet programs read the Vietnamese headers right)."""
    headers, rows = export_rows(data)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_xlsx(data: dict[str, Any]) -> bytes:
    """One sheet, 'Toàn tỉnh': the period, then the headers and a row per center (openpyxl)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    headers, rows = export_rows(data)
    wb = Workbook()
    ws = wb.active
    ws.title = "Toàn tỉnh"
    ws.append([f"Báo cáo toàn tỉnh từ {data['from']} đến {data['to']}"])
    ws.append(headers)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    stale = PatternFill("solid", fgColor="F8D7DA")
    for row in rows:
        ws.append(row)
        if row[-1] == "KHÔNG":
            for cell in ws[ws.max_row]:
                cell.fill = stale
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# Columns of the raw-event export, Vietnamese header first (the centers' own exports are Vietnamese)
EVENT_COLUMNS = (("Trung tâm", "center_id"), ("Mã sự kiện", "event_id"), ("Loại", "kind"),
                 ("Thời điểm (UTC)", "at"), ("Ngày", "day"), ("Lĩnh vực", "field"),
                 ("Quầy", "counter"), ("Cán bộ", "staff"), ("Lượt (mã ẩn danh)", "visit"),
                 ("Dữ liệu", "data"))
EVENT_FETCH_ROWS = 2000  # rows a round trip of the server-side cursor (memory stays flat)


def export_events_csv(pool: ConnectionPool, first: date, last: date,
                      center: str | None = None) -> Iterator[bytes]:
    """The raw-event stream of `first`..`last` (the centers' service days, inclusive), of one
    center or all, as CSV chunks (UTF-8 with a BOM; ordered by center, then the center's event
    id): what `[reporting] raw_events = true` forwards, nothing more (docs/reporting.md). Read
    through a server-side cursor, `EVENT_FETCH_ROWS` at a time, so a month of a province streams
    without being held in memory. `data` is the event's whitelisted keys as JSON."""
    where, params = "day BETWEEN %s AND %s", [first, last]
    if center is not None:
        where += " AND center_id = %s"
        params.append(center)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with pool.connection() as conn, conn.transaction():
        with conn.cursor(name="raw_events_export") as cur:
            cur.itersize = EVENT_FETCH_ROWS
            # the query runs before the first chunk, so a database that fails is the caller's
            # error to answer (web.py primes the generator), not a CSV cut after its header
            cur.execute("SELECT center_id, event_id, kind, at, day, field_id, counter, staff, visit, "
                        f"data FROM raw_events WHERE {where} ORDER BY center_id, event_id", params)
            writer.writerow([f"{vi} ({en})" for vi, en in EVENT_COLUMNS])
            yield ("\ufeff" + _drain(buffer).decode("utf-8")).encode("utf-8")
            rows = 0
            for center_id, event_id, kind, at, day, field_id, counter, staff, visit, data in cur:
                writer.writerow([center_id, event_id, kind,
                                 at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
                                 day.isoformat(), field_id or "", "" if counter is None else counter,
                                 staff or "", visit or "",
                                 json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                                            sort_keys=True)])
                rows += 1
                if rows % EVENT_FETCH_ROWS == 0:
                    yield _drain(buffer)
            yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")
