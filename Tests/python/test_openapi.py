"""/openapi.json: a valid OpenAPI 3.0.3 document that describes the routes the server really has."""

from __future__ import annotations

import random
import re

import pytest
import requests
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from conftest import REPO
from helpers import TIMEOUT, at, error_of, seed_payload


@pytest.fixture(scope="module")
def document(server):
    response = requests.get(server.base + "/openapi.json", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


@pytest.fixture(scope="module")
def samples(server):
    """A machine, a record and an alert that exist, for the path parameters."""
    rng = random.Random(42)
    machine = "dmls-openapi"
    ingest = requests.post(server.base + "/api/v1/telemetry", json=seed_payload(machine, at(0), rng), timeout=TIMEOUT)
    assert ingest.status_code == 201, ingest.text
    alert = requests.post(server.base + "/api/v1/alerts",
                          json={"machine_id": machine, "rule": "openapi", "severity": "info", "message": "m"},
                          timeout=TIMEOUT)
    assert alert.status_code == 201, alert.text
    return {"machine": machine, "record": ingest.json()["ids"][0], "alert": alert.json()["id"]}


def test_document_is_valid_openapi_3_0_3(document):
    assert document["openapi"] == "3.0.3"
    validate(document)


def test_every_operation_has_an_id_and_error_responses(document):
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            codes = set(operation["responses"])
            assert codes & {"200", "201"}, (method, path)
            if path not in ("/healthz", "/openapi.json"):
                assert "401" in codes or operation.get("security") == [], (method, path)
            if method == "post":
                assert {"401", "415"} <= codes, (method, path)
    assert len(ids) == len(set(ids))


def concrete(path: str, samples: dict) -> str:
    if path.startswith("/api/v1/machines/{id}"):
        return path.replace("{id}", samples["machine"])
    if path.startswith("/api/v1/records/{id}"):
        return path.replace("{id}", samples["record"])
    if path.startswith("/api/v1/alerts/{id}"):
        return path.replace("{id}", samples["alert"])
    if path == "/dashboard/{file}":
        return "/dashboard/dashboard.js"
    assert "{" not in path, f"no sample for {path}"
    return path


SAMPLE_BODIES = {
    ("post", "/api/v1/telemetry"): {"machine_id": "dmls-openapi", "timestamp": 1795255200000,
                                    "channels": {"power_kw": 1.5}},
    ("post", "/api/v1/alerts"): {"machine_id": "dmls-openapi", "rule": "openapi-2", "severity": "warning",
                                 "message": "m"},
}
SAMPLE_QUERIES = {
    ("get", "/api/v1/machines/{id}/series"): {"channel": "power_kw"},
}


def test_every_documented_route_exists(server, document, samples):
    """Every path and method answers with one of its documented statuses, never 404-for-no-route or 405."""
    validator_root = {"components": document["components"]}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            url = server.base + concrete(path, samples)
            kwargs = {"timeout": TIMEOUT, "params": SAMPLE_QUERIES.get((method, path))}
            if (method, path) in SAMPLE_BODIES:
                kwargs["json"] = SAMPLE_BODIES[(method, path)]
            if path == "/api/v1/stream":
                kwargs["stream"] = True
            with requests.request(method.upper(), url, **kwargs) as response:
                assert response.status_code != 405, (method, path)
                if response.status_code == 404:
                    # A 404 from a route names what was not found; the router's own 404 does not.
                    assert error_of(response).get("field"), (method, path, response.text)
                assert str(response.status_code) in operation["responses"], (method, path, response.status_code,
                                                                              response.text[:500])
                assert response.status_code < 300, (method, path, response.status_code, response.text[:500])
                # The body matches the documented schema.
                documented = operation["responses"][str(response.status_code)]
                media = response.headers["Content-Type"].split(";")[0]
                content = documented.get("content", {})
                assert media in content, (method, path, media, list(content))
                if media == "application/json":
                    schema = dict(validator_root, **content[media]["schema"])
                    OAS30Validator(schema).validate(response.json())
                assert response.headers.get("X-Request-ID"), (method, path)


def test_responses_match_schemas_with_frames_and_nulls(server, document, samples):
    """Records with frames, machines, series and alert lists against their schemas."""
    components = {"components": document["components"]}

    def check(url, schema_name, **params):
        response = requests.get(server.base + url, params=params, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        OAS30Validator(dict(components, **{"$ref": f"#/components/schemas/{schema_name}"})).validate(response.json())
        return response.json()

    check(f"/api/v1/records/{samples['record']}", "Record")
    check(f"/api/v1/machines/{samples['machine']}/records", "RecordPage", include="frame")
    check(f"/api/v1/machines/{samples['machine']}/latest", "Record", include="frame")
    check(f"/api/v1/machines/{samples['machine']}/series", "Series", channel="frame_mean")
    check("/api/v1/machines", "MachineList")
    check("/api/v1/alerts", "AlertList")
    check("/healthz", "Health")


def test_routes_in_the_document_are_the_routes_of_the_server(document):
    """The documented paths are exactly those registered in Routes/*.swift: nothing missing, nothing invented."""
    registered = set()
    for source in sorted((REPO / "Sources/TelemetryServer/Routes").glob("*.swift")):
        for method, path in re.findall(r'router\.(get|post|put|patch|delete)\("([^"]+)"', source.read_text()):
            registered.add((method, path))
    assert ("post", "/api/v1/telemetry") in registered and len(registered) >= 14, registered
    documented = {(m, p) for p, item in document["paths"].items() for m in item}
    assert documented == registered


def test_machine_id_pattern(document):
    pattern = document["components"]["schemas"]["MachineID"]["pattern"]
    assert pattern == "^[A-Za-z0-9._-]{1,64}$"
    assert re.match(pattern, "dmls-01") and not re.match(pattern, "bad id")
