"""The browser pages the hub serves: the TV display, the staff counter panel and the counter-side
rating screen (SPEC §5, §6, §9).

The pages are static HTML + plain JS + CSS (no build step, no framework, nothing from the
internet). They talk to the hub only over its public HTTP API and Socket.IO events, exactly like a
display on another device of the LAN would, so this module needs nothing from the hub but the
center's name and the rating levels to paint the first frame.

    /display            every counter (or `?zone=<id>`: one zone), latest calls, waiting, voice;
                        reads [voice] chime, [display] latest_calls and flash_seconds
    /counter            staff panel (`?n=3` lets admin / manager pick a counter): the buttons, what
                        this counter can call (tickets transferred elsewhere counted apart),
                        today's no-shows with a re-queue, calling a number (GET /counters/<n>/queue,
                        POST /counters/<n>/requeue and /call)
    /rate/<n>           counter-side rating touchscreen (`?token=<device token>` once); like /kiosk
                        it checks its token when it opens, before any smiley can be tapped
    /manager            not built yet: a page that says so (501)
    /                   a landing page linking the others

Every page is sent with a Content-Security-Policy that allows only this origin: a page that
tried to load a script, font or sound from the internet would fail in development already.
(Playwright's `wait_for_function` needs eval, which the policy forbids: poll `page.evaluate`, or
open the context with `bypass_csp=True`.)

A TV is a browser in kiosk mode. Browsers refuse to play sound before someone touches the page;
Chromium kiosks are started with the flag that lifts this, otherwise the page shows a
"Bấm để bật âm thanh" overlay until someone taps it once:

    chromium --kiosk --autoplay-policy=no-user-gesture-required http://HUB:8080/display?zone=...

Test hooks on /display: `window.__announcements` (every clip played: kind, url, number, counter,
recall, started, ended, error) and `<body data-audio-state="idle|playing|blocked|off">`;
`window.__socket` on every page is its Socket.IO connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, request

from queue_server.demo import DEMO_DEVICE_SHA256, DEMO_DEVICE_TOKEN
from queue_server.pages import UNSATISFIED_REASONS, rating_levels_en, render_page

HERE = Path(__file__).resolve().parent
STATIC_URL = "/assets/display"


def create_pages(service: Any, config: Any) -> Blueprint:
    """The pages blueprint. `service` is the hub's QueueService (read for names and levels only;
    its rules are read on each request: an admin may rename counters and rating labels while the
    hub runs, settings.py)."""
    rules = service.rules
    bp = Blueprint("pages", __name__, template_folder=str(HERE / "templates"),
                   static_folder=str(HERE / "static"), static_url_path=STATIC_URL)
    center_name = rules.center_name
    center_name_en = getattr(rules, "center_name_en", "") or center_name

    def page(template: str, **context: Any) -> Response:
        return render_page(template, center_name=center_name, center_name_en=center_name_en,
                           static=STATIC_URL, **context)

    @bp.get("/")
    def landing() -> Response:
        rules = service.rules
        counters = [{"number": c.number, "name": c.name} for c in rules.counters.values()]
        zones = sorted({c.zone for c in rules.counters.values()})
        # In demo mode the links carry the demo device token, so the kiosk and rating screens
        # work from one click; a real center's devices are given their own token once.
        demo = any(d.token_sha256 == DEMO_DEVICE_SHA256 for d in config.devices)
        return page("display/landing.html", title="Hệ thống xếp hàng", counters=counters,
                    zones=zones if len(zones) > 1 else [],
                    device_query=f"?token={DEMO_DEVICE_TOKEN}" if demo else "")

    voice_section = config.sections.get("voice", {})
    display_section = config.sections.get("display", {})
    display_options = {
        # [voice] chime: play the chime before each call (a page may override with ?chime=0/1)
        "chime": bool(voice_section.get("chime", True)),
        # [display] latest_calls: how many earlier calls the list shows under the newest one
        "latest_calls": max(1, min(15, int(display_section.get("latest_calls", 6)))),
        # [display] flash_seconds: how long a newly called counter flashes
        "flash_seconds": max(0, min(30, int(display_section.get("flash_seconds", 3)))),
    }

    @bp.get("/display")
    def display() -> Response:
        zone = request.args.get("zone") or ""
        return page("display/display.html", title="Màn hình gọi số", page_class="tv",
                    options={**display_options, "zone": zone})

    @bp.get("/counter")
    def counter() -> Response:
        rules = service.rules
        return page("display/counter.html", title="Quầy giao dịch", page_class="staff",
                    counters=[{"number": c.number, "name": c.name} for c in rules.counters.values()])

    @bp.get("/rate/<int:n>")
    def rate(n: int) -> Response:
        rules = service.rules
        if n not in rules.counters:
            abort(404)
        return page("display/rate.html", title="Đánh giá mức độ hài lòng", page_class="rate",
                    counter=n, counter_name=rules.counters[n].name,
                    levels=list(rules.rating_levels), levels_en=rating_levels_en(rules.rating_levels),
                    reasons=UNSATISFIED_REASONS)

    return bp
