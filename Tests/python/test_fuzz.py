"""A bounded schemathesis run against a live server, driven by its own /openapi.json.

Every operation but the never-ending `/api/v1/stream` gets ``FUZZ_EXAMPLES`` generated requests
(valid and invalid ones), and no answer may be a 5xx. Answers to valid requests must also
conform to the document: documented status codes, content types, headers and response schemas. The server used is
its own (``fuzz_server``), seeded with a machine, a record and an alert whose ids are the
document's examples, so the read paths see real data and not only 404s.
"""

from __future__ import annotations

import copy
import os
import random

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import DataGenerationMethod
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from helpers import TIMEOUT, at, seed_payload

# Examples per operation and generation method; SINTER_FUZZ_RANDOM=1 explores new inputs each run
# (the default is derandomized, so CI runs are repeatable).
FUZZ_EXAMPLES = int(os.environ.get("SINTER_FUZZ_EXAMPLES", "60"))
FUZZ_RANDOM = os.environ.get("SINTER_FUZZ_RANDOM", "") not in ("", "0")
EXAMPLE_MACHINE = "dmls-01"
EXAMPLE_TIMESTAMP_MS = 1795255200000  # the RecordID example: dmls-01@1795255200000000000


def fuzzable(document: dict) -> dict:
    """The document with the 10,000-value frame arrays made small, so generation stays cheap.

    Frames of the wrong size are answered 422, which is still a valid, documented answer.
    """
    document = copy.deepcopy(document)
    schemas = document["components"]["schemas"]
    schemas["FlatTemperatures"].update(minItems=0, maxItems=8)
    schemas["NestedTemperatures"].update(minItems=0, maxItems=3)
    schemas["NestedTemperatures"]["items"].update(minItems=0, maxItems=3)
    return document


@pytest.fixture(scope="session")
def seeded_fuzz_server(fuzz_server):
    base = fuzz_server.base
    rng = random.Random(2026)
    records = [seed_payload(EXAMPLE_MACHINE, at(0), rng)]
    records[0]["timestamp"] = EXAMPLE_TIMESTAMP_MS
    records += [seed_payload(EXAMPLE_MACHINE, at(i), rng) for i in range(1, 4)]
    response = requests.post(base + "/api/v1/telemetry", json=records, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    alert = requests.post(base + "/api/v1/alerts", json={"machine_id": EXAMPLE_MACHINE, "rule": "fuzz",
                                                         "severity": "warning", "message": "seeded"},
                          timeout=TIMEOUT)
    assert alert.status_code == 201, alert.text
    return fuzz_server


@pytest.fixture(scope="session")
def api_schema(seeded_fuzz_server):
    document = requests.get(seeded_fuzz_server.base + "/openapi.json", timeout=TIMEOUT).json()
    return schemathesis.from_dict(fuzzable(document), base_url=seeded_fuzz_server.base)


schema = schemathesis.from_pytest_fixture(
    "api_schema", data_generation_methods=DataGenerationMethod.all()
).exclude(path="/api/v1/stream")


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=not FUZZ_RANDOM, database=None, print_blob=True,
          suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx(case, seeded_fuzz_server):
    assert seeded_fuzz_server.alive, f"the server died:\n{seeded_fuzz_server.stderr_tail()}"
    checks = (not_a_server_error,)
    if case.data_generation_method == DataGenerationMethod.positive:
        # Valid requests get answers that conform to the document: a documented status, content type, headers
        # and body. (Invalid ones may be refused by the HTTP parser itself, with a bare 400, before any route.)
        checks += (status_code_conformance, content_type_conformance, response_headers_conformance,
                   response_schema_conformance)
    # A valid bearer token (this server has none, so it is ignored): schemathesis would otherwise make up
    # tokens with control characters, which the HTTP parser refuses with a bare 400 before any route runs.
    case.call_and_validate(headers={"Authorization": "Bearer fuzz"}, checks=checks, timeout=TIMEOUT)
