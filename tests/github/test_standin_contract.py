"""The stand-in's API description is GitHub's, trimmed by a script we keep."""

from __future__ import annotations

import json

from tests.github_standin.contract import ApiRequest, check_request
from tests.github_standin.trim_spec import DEFAULT_SOURCE, OPERATIONS, SUBSET, render
from tests.needs import missing


def test_the_committed_subset_is_what_the_script_makes_from_the_shared_contract():
    if not DEFAULT_SOURCE.exists():
        missing(
            "GitHub's full REST API description (npm @octokit/openapi 23.0.2)",
            "set RECLAIM_GITHUB_OPENAPI to its api.github.com.json",
        )
    expected = render(json.loads(DEFAULT_SOURCE.read_text(encoding="utf-8")))
    assert SUBSET.read_text(encoding="utf-8") == expected, (
        "run python tests/github_standin/trim_spec.py to regenerate the subset"
    )


def test_the_subset_holds_every_operation_and_rejects_what_github_would():
    spec = json.loads(SUBSET.read_text(encoding="utf-8"))
    ids = {
        op["operationId"]
        for item in spec["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert ids == set(OPERATIONS)
    bad = ApiRequest("POST", "/repos/acme/infra/git/trees", [], {}, b'{"trees": []}')
    assert "'tree' is a required property" in (check_request(bad) or "")
    good = ApiRequest("GET", "/repos/acme/infra/git/ref/heads/reclaim/x", [], {}, None)
    assert check_request(good) is None  # multi-segment refs are matched
