"""The published OpenAPI document (/api/v1/openapi.json) is a valid OpenAPI 3.1 document, says
what each operation takes and answers, and its examples are accepted by the running server."""

from __future__ import annotations

from typing import Any

import requests
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.conftest import DEVICE, HubProcess, login

# Refusals that mean "your body is malformed": an example must never get one.
SHAPE_ERRORS = {"invalid_field", "unknown_field", "invalid_text", "invalid_number", "malformed_json",
                "missing_body", "too_deep", "duplicate_field"}
COUNTER_ACTIONS = ("next", "recall", "no-show", "transfer", "finish", "pause", "resume")


def document(hub: HubProcess) -> dict[str, Any]:
    r = requests.get(f"{hub.url}/api/v1/openapi.json", timeout=10)
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with #/components/… references usable by a validator (the whole document's
    components beside it)."""
    return {**schema, "components": doc["components"]}


def test_the_document_is_valid_openapi(hub: HubProcess) -> None:
    doc = document(hub)
    validate(doc)  # raises with the path of the first violation
    assert doc["openapi"].startswith("3.1")


def test_counter_actions_take_a_body_and_answer_a_ticket(hub: HubProcess) -> None:
    # The seven counter actions had request body and responses swapped in the document.
    paths = document(hub)["paths"]
    for action in COUNTER_ACTIONS:
        op = paths[f"/api/v1/counters/{{n}}/{action}"]["post"]
        body = op["requestBody"]["content"]["application/json"]["schema"]
        assert body["type"] == "object" and body.get("additionalProperties") is False, (action, body)
        ok = [code for code in op["responses"] if code.startswith("2")]
        assert ok, (action, op["responses"])
        for code in ("400", "401", "403", "404", "409"):
            assert op["responses"][code]["content"]["application/json"]["schema"] == \
                {"$ref": "#/components/schemas/Error"}, (action, code)
    assert paths["/api/v1/counters/{n}/next"]["post"]["responses"]["200"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/Ticket"}
    assert "204" in paths["/api/v1/counters/{n}/next"]["post"]["responses"]
    assert paths["/api/v1/counters/{n}/finish"]["post"]["requestBody"]["required"] is True
    assert set(paths["/api/v1/counters/{n}/finish"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]) == {"outcome", "dossiers"}


def test_every_example_is_valid_and_accepted_by_the_server(hub: HubProcess) -> None:
    doc = document(hub)
    manager = login(hub.url, "manager")
    admin = login(hub.url, "admin")
    # tickets for the operations that act on one: counter 1 serves ho-tich first
    for _ in range(4):
        assert requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE,
                             timeout=10).status_code == 201

    def waiting() -> str:  # a fresh one per operation: cancel must not spoil reprint
        return requests.post(f"{hub.url}/api/v1/tickets", json={"service": "dat-dai"}, headers=DEVICE,
                             timeout=10).json()["id"]  # type: ignore[no-any-return]

    examples = 0
    statuses: dict[str, int] = {}
    steps = [*COUNTER_ACTIONS, "rating"]  # then rate the visit counter 1 finished
    def step(path: str) -> int:
        last = path.rsplit("/", 1)[-1]
        if path.startswith("/api/v1/counters/{n}/"):  # the counter's own actions in their order,
            return steps.index(last) if last in steps else len(steps)  # the panel's after them
        return 99 if path == "/api/v1/printer/simulate" else -1  # the simulated paper-out comes last

    order = sorted(doc["paths"].items(), key=lambda item: step(item[0]))
    for path, item in order:
        op = item.get("post")
        if not op or "requestBody" not in op:
            continue
        media = op["requestBody"]["content"]["application/json"]
        assert "example" in media, f"{path} has no request example"
        example = media["example"]
        errors = list(Draft202012Validator(media["schema"]).iter_errors(example))
        assert not errors, (path, example, errors[0].message)
        url = hub.url + path.replace("{n}", "1")
        if "{ticket_id}" in path:
            url = url.replace("{ticket_id}", waiting())
        headers = admin if path.startswith(("/api/v1/printer/", "/api/v1/buttons/")) else manager
        if path == "/api/v1/auth/login":
            headers = {}
        if path.endswith(("/transfer", "/finish")):  # each acts on a called ticket
            requests.post(f"{hub.url}/api/v1/counters/1/next", headers=manager, timeout=10).raise_for_status()
        r = requests.post(url, json=example, headers=headers, timeout=10)
        statuses[path] = r.status_code
        assert r.status_code < 500, (path, r.status_code, r.text[:300])
        if r.status_code >= 400:
            code = r.json()["error"]["code"]
            assert code not in SHAPE_ERRORS, (path, example, r.text[:300])
        else:
            documented = op["responses"].get(str(r.status_code))
            assert documented is not None, (path, r.status_code)
            schema = documented.get("content", {}).get("application/json", {}).get("schema")
            if schema and r.content:
                problems = list(Draft202012Validator(resolve(doc, schema)).iter_errors(r.json()))
                assert not problems, (path, problems[0].message)
        examples += 1
    assert examples == sum(1 for item in doc["paths"].values() if "requestBody" in item.get("post", {}))
    # in this order every counter action, issuing, printing and rating at the counter succeeded
    for path in [f"/api/v1/counters/{{n}}/{action}" for action in COUNTER_ACTIONS] + [
            "/api/v1/auth/login", "/api/v1/tickets", "/api/v1/kiosk/tickets", "/api/v1/counters/{n}/rating",
            "/api/v1/tickets/{ticket_id}/reprint", "/api/v1/printer/simulate", "/api/v1/buttons/press"]:
        assert 200 <= statuses[path] < 300, (path, statuses)
