"""Bad input on every HTTP layer, as a client sees it: body bytes, JSON values, query strings and
path parameters get a clear 4xx with a Vietnamese and an English reason, change nothing, and never
a 500. The body cases are derived from the published OpenAPI document, so a field added later is
covered without touching this file."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests

from tests.conftest import DEVICE, HubProcess, login

# Words of the validator's own English that must never reach a person (issue: "'password' is a
# required property", "is too long", "[] is not of type 'object'").
VALIDATOR_ENGLISH = re.compile(r"required property|is too long|is not of type|is not one of|"
                               r"is less than|is greater than|does not match|is not valid under")
LONE = b'"\\ud800"'  # valid JSON, not text


def refused(r: requests.Response, status: int = 400, code: str | None = None) -> dict[str, Any]:
    """The JSON error of a 4xx answer, checked for a Vietnamese and an English reason."""
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:300])
    error = r.json()["error"]
    assert error["message"] and error["message_en"], error
    assert not VALIDATOR_ENGLISH.search(error["message"]), error
    if code is not None:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


def state_marks(hub: HubProcess) -> tuple[Any, Any]:
    state = requests.get(f"{hub.url}/api/v1/state", timeout=10).json()
    return state["seq"], state["waiting"]


def body_operations(hub: HubProcess) -> list[tuple[str, dict[str, Any]]]:
    """(path, request-body schema) of every POST in the published document."""
    doc = requests.get(f"{hub.url}/api/v1/openapi.json", timeout=10).json()
    found = []
    for path, item in doc["paths"].items():
        body = item.get("post", {}).get("requestBody")
        if body:
            found.append((path, body["content"]["application/json"]["schema"]))
    return found


def concrete(path: str) -> str:
    return path.replace("{n}", "1").replace("{ticket_id}", "00000000-0000-4000-8000-000000000000")


def valid_value(schema: dict[str, Any]) -> Any:
    """Some value the field's schema accepts (so that only the field under test is wrong)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
    return {"string": "x", "integer": schema.get("minimum", 1), "boolean": False}[kind]


def raw_bodies(schema: dict[str, Any]) -> list[tuple[str, bytes]]:
    """For each field: a body whose other required fields are valid and this field carries a
    value of the class under test — a lone surrogate or a control character in every string
    field; -0.0, 1.0, true,
    1e400, NaN and a 30-digit number in every numeric field."""
    properties = schema.get("properties", {})
    bodies = []
    for name, rule in properties.items():
        others = {k: valid_value(properties[k]) for k in schema.get("required", []) if k != name}
        kinds = rule.get("type", [])
        kinds = kinds if isinstance(kinds, list) else [kinds]
        prefix = json.dumps(others)[:-1] + (", " if others else "") + json.dumps(name) + ": "
        values: list[bytes] = []
        if "string" in kinds:
            values += [LONE, b'"ok\\udfff"', b'"a\\u0000b"', b'"bell\\u0007"']
        if "integer" in kinds or "number" in kinds:
            values += [b"-0.0", b"1.0", b"true", b"1e400", b"NaN", b"1" * 30]
        for value in values:
            bodies.append((f"{name}={value.decode()}", prefix.encode() + value + b"}"))
    return bodies


def test_every_string_and_number_field_refuses_the_bad_value_class(hub: HubProcess) -> None:
    admin = {**login(hub.url, "admin"), "Content-Type": "application/json"}
    requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
    before = state_marks(hub)
    tried = 0
    fields_seen: set[str] = set()
    for path, schema in body_operations(hub):
        for label, body in raw_bodies(schema):
            headers = {"Content-Type": "application/json"} if path == "/api/v1/auth/login" else admin
            r = requests.post(hub.url + concrete(path), data=body, headers=headers, timeout=10)
            error = refused(r, 400)
            assert error["code"] in ("invalid_text", "invalid_field", "invalid_number"), (path, label, error)
            assert "\ud800" not in r.text and "\\ud800" not in r.text, (path, label, r.text)
            tried += 1
            fields_seen.add(f"{path}:{label.split('=')[0]}")
    # the fields the issue names, all reached through the document
    for named in ("/api/v1/auth/login:username", "/api/v1/auth/login:password",
                  "/api/v1/ratings:reason", "/api/v1/tickets:service", "/api/v1/tickets:priority_group",
                  "/api/v1/tickets/{ticket_id}/cancel:reason", "/api/v1/counters/{n}/pause:note",
                  "/api/v1/counters/{n}/transfer:service", "/api/v1/counters/{n}/transfer:counter",
                  "/api/v1/buttons/press:pin", "/api/v1/counters/{n}/finish:dossiers"):
        assert named in fields_seen, named
    assert tried >= 90  # 100 today: every string and number field of every body
    assert state_marks(hub) == before
    # text with line breaks and tabs is text
    ticket = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "dat-dai"}, headers=DEVICE,
                           timeout=10).json()
    r = requests.post(f"{hub.url}/api/v1/tickets/{ticket['id']}/cancel", headers=admin, timeout=10,
                      data=json.dumps({"reason": "Công dân về trước\nđã báo\tquầy 3"}).encode())
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text


@pytest.mark.parametrize("body", [b"[" * 30000, b'{"a": ' * 10000, b"[" * 17 + b"]" * 17,
                                  b'{"username": ' + b"[" * 5000 + b'"x"' + b"]" * 5000 + b"}"],
                         ids=["30000-brackets", "10000-objects", "17-levels", "deep-in-a-field"])
def test_deep_nesting_is_refused_without_recursion(hub: HubProcess, body: bytes) -> None:
    r = requests.post(f"{hub.url}/api/v1/auth/login", data=body,
                      headers={"Content-Type": "application/json"}, timeout=10)
    refused(r, 400, "too_deep")
    # brackets inside a string are text, not nesting
    r = requests.post(f"{hub.url}/api/v1/auth/login", data=json.dumps(
        {"username": "[" * 60, "password": "{" * 100}).encode(), timeout=10)
    refused(r, 401, "bad_credentials")


def test_button_pin_minus_zero_is_not_an_integer(hub: HubProcess) -> None:
    admin = login(hub.url, "admin")
    before = requests.get(f"{hub.url}/api/v1/printer", timeout=10).json()
    for body in (b'{"pin": -0.0}', b'{"pin": 17.0}', b'{"pin": true}', b'{"pin": 0.5}'):
        r = requests.post(f"{hub.url}/api/v1/buttons/press", data=body,
                          headers={**admin, "Content-Type": "application/json"}, timeout=10)
        error = refused(r, 400)
        assert "pin" in error["message"] and "pin" in error["message_en"], error
    assert requests.get(f"{hub.url}/api/v1/printer", timeout=10).json()["tickets_printed"] == \
        before["tickets_printed"]
    # the real thing still works
    r = requests.post(f"{hub.url}/api/v1/buttons/press", json={"pin": 17}, headers=admin, timeout=10)
    assert r.status_code == 200, r.text


LOGIN_MISTAKES = [
    ({"username": "staff1"}, ["Thiếu", "mật khẩu", "'password'"], ["'password' is required"]),
    ([], ["đối tượng JSON"], ["must be a JSON object"]),
    ({"username": "x" * 65, "password": "p"}, ["tên đăng nhập", "dài quá 64 ký tự"], ["longer than 64"]),
    ({"username": "", "password": "p"}, ["không được để trống"], ["must not be empty"]),
    ({"username": 5, "password": "p"}, ["phải là một chuỗi ký tự"], ["must be a string"]),

]


def test_validator_messages_are_vietnamese_with_the_field(hub: HubProcess) -> None:
    for body, words_vi, words_en in LOGIN_MISTAKES:
        r = requests.post(f"{hub.url}/api/v1/auth/login", json=body, timeout=10)
        error = refused(r, 400, "invalid_field")
        for word in words_vi:
            assert word in error["message"], error
        for word in words_en:
            assert word in error["message_en"], error


def test_validator_messages_for_ranges_choices_and_alternatives(hub: HubProcess) -> None:
    manager = login(hub.url, "manager")
    cases = [
        ("/api/v1/counters/1/finish", {"outcome": "received", "dossiers": 1000},
         ["số hồ sơ", "từ 0 đến 999"], ["between 0 and 999"]),
        ("/api/v1/counters/1/finish", {"outcome": "lost"},
         ["kết quả", "một trong: received, returned, guidance, supplement"], ["one of"]),
        ("/api/v1/counters/1/pause", {"reason": "lunch", "minutes": 0}, ["số phút", "từ 1 đến 480"],
         ["between 1 and 480"]),
        ("/api/v1/counters/1/transfer", {"service": "ho-tich", "counter": 2}, ["'service'", "'counter'"],
         ["Exactly one of"]),
        ("/api/v1/ratings", {"ticket": "x", "level": 9}, ["mức đánh giá", "từ 1 đến 3"], ["between 1 and 3"]),
        ("/api/v1/tickets", {"service": "ho-tich", "who": "Nguyễn Văn A"}, ["Trường không được hỗ trợ", "'who'"],
         ["Unknown field"]),
    ]
    for path, body, words_vi, words_en in cases:
        error = refused(requests.post(hub.url + path, json=body, headers=manager, timeout=10), 400)
        for word in words_vi:
            assert word in error["message"], (path, error)
        for word in words_en:
            assert word in error["message_en"], (path, error)


def test_a_wrong_device_token_is_explained_in_device_words(hub: HubProcess) -> None:
    wrong = {"Authorization": "Bearer not-the-device"}
    for method, path, body in [("post", "/api/v1/kiosk/tickets", {"service": "ho-tich"}),
                               ("get", "/api/v1/kiosk/status", None),
                               ("post", "/api/v1/counters/1/rating", {"level": 1})]:
        r = requests.request(method, hub.url + path, json=body, headers=wrong, timeout=10)
        error = refused(r, 401, "bad_token")
        assert error["message"].startswith("Mã thiết bị không hợp lệ"), (path, error)
        assert "device token" in error["message_en"], (path, error)
    # staff routes keep the login wording
    error = refused(requests.post(f"{hub.url}/api/v1/counters/1/next", headers=wrong, timeout=10), 401)
    assert error["message"].startswith("Phiên đăng nhập không hợp lệ"), error


# Query strings and path parameters: invalid percent-escapes (a lone surrogate's UTF-8 form,
# bytes that are no UTF-8), NUL, huge numbers, overlong values.
BAD_URLS = [
    ("get", "/api/v1/tickets/%ED%A0%80", 404),
    ("get", "/api/v1/tickets/%FF%FE", 404),
    ("get", "/api/v1/tickets/%00", 404),
    ("get", "/api/v1/tickets/" + "a" * 5000, 414),  # gunicorn: request line over 4094 bytes
    ("post", "/api/v1/tickets/%ED%A0%80/cancel", 404),
    ("post", "/api/v1/tickets/%ED%A0%80/requeue", 404),
    ("post", "/api/v1/tickets/%ED%A0%80/reprint", 404),
    ("post", "/api/v1/counters/99999999999999999999999/next", 404),
    ("get", "/api/v1/counters/99999999999999999999999/rating", 404),
    ("get", "/api/v1/state?zone=%ED%A0%80", 400),
    ("get", "/api/v1/state?zone=%00", 400),
    ("get", "/api/v1/state?zone=" + "z" * 5000, 414),
    ("get", "/api/v1/state?zone=" + "z" * 3000, 400),
    ("get", "/api/v1/state?zone=khong-co", 400),
    ("get", "/api/v1/state?zone=main", 200),
    ("get", "/api/v1/stats?from=%ED%A0%80", 400),
    ("get", "/api/v1/stats?to=%00", 400),
    ("get", "/api/v1/stats?from=2026-01-01&to=9999-12-31", 400),
    ("get", "/api/v1/stats?from=0001-01-01", 400),
    ("get", "/api/v1/reports/summary.xlsx?from=%FF", 400),
    ("get", "/api/v1/printer?refresh=%ED%A0%80", 200),
    ("get", "/display?zone=%ED%A0%80", 200),
    ("get", "/counter?n=%ED%A0%80", 200),
    ("get", "/rate/99999999999999999999999", 404),
    ("get", "/t/%ED%A0%80", 404),
    ("get", "/kiosk?token=%ED%A0%80", 200),
]


def test_query_strings_and_path_parameters(hub: HubProcess) -> None:
    manager = login(hub.url, "manager")
    before = state_marks(hub)
    for method, path, status in BAD_URLS:
        r = requests.request(method, hub.url + path, headers={**manager, "Accept": "application/json"},
                             timeout=10)
        assert r.status_code < 500, (path, r.status_code, r.text[:300])
        if status is not None:
            assert r.status_code == status, (path, r.status_code, r.text[:300])
        if r.status_code >= 400 and r.headers["Content-Type"].startswith("application/json"):
            refused(r, r.status_code)
    assert state_marks(hub) == before


def test_priority_groups_have_english_names() -> None:
    """[[priority.groups]] name_en is optional; the default groups have English names built in."""
    from queue_server.config import ConfigError, parse_config
    from tests.hub.test_hub_config import GOOD

    assert parse_config(GOOD).priority_names_en["elderly"] == "Elderly people"
    own = GOOD + '[priority]\ngroups = [{id = "vet", name = "Cựu chiến binh", name_en = "Veterans"},' \
                 ' {id = "gold", name = "Người cao tuổi"}]\n'
    assert parse_config(own).priority_names_en == {"vet": "Veterans", "gold": ""}
    with pytest.raises(ConfigError, match="name_en"):
        parse_config(GOOD + '[priority]\ngroups = [{id = "vet", name = "Cựu chiến binh", name_en = ""}]\n')
