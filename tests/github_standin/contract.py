"""Checking every exchange against GitHub's OpenAPI description with openapi-core."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI
from openapi_core.casting.schemas.exceptions import CastError
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.github_standin.trim_spec import SUBSET

GITHUB = "https://api.github.com"
# Bad credentials (401), rate limits (403, 429) and Not Found (404: also what GitHub answers
# for what the token may not see) can come from any endpoint: GitHub documents them for the
# API as a whole, not per operation (get-environment lists only 200, yet a missing
# environment is a 404). Where an operation does not list them, their bodies are checked
# against `basic-error` instead.
API_WIDE_STATUSES = {401, 403, 404, 429}


@cache
def spec_dict(path: Path = SUBSET) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def openapi(path: Path = SUBSET) -> OpenAPI:
    from openapi_core import Config

    return OpenAPI.from_dict(spec_dict(path), config=Config(spec_validator_cls=None))


@cache
def _multi_segment_templates() -> list[tuple[re.Pattern[str], set[str]]]:
    """Paths whose parameters GitHub marks ``x-multi-segment`` (a ref such as
    ``heads/reclaim/x`` is sent with its slashes). openapi-core matches one segment per
    parameter, so those slashes are percent-encoded before matching."""
    spec = spec_dict()
    found = []
    for template, item in spec["paths"].items():
        multi: set[str] = set()
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for param in op.get("parameters", []):
                if "$ref" in param:
                    param = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
                if param.get("x-multi-segment"):
                    multi.add(param["name"])
        if multi:
            pattern = re.sub(
                r"\\{(\w+)\\}",
                lambda m, multi=multi: f"(?P<{m.group(1)}>.+)" if m.group(1) in multi else "[^/]+",
                re.escape(template),
            )
            found.append((re.compile(f"^{pattern}$"), multi))
    return found


def openapi_path(path: str) -> str:
    for pattern, multi in _multi_segment_templates():
        match = pattern.match(path)
        if match:
            for name in multi:
                start, end = match.span(name)
                path = path[:start] + path[start:end].replace("/", "%2F") + path[end:]
            return path
    return path


@dataclass
class ApiRequest:
    """openapi-core's Request protocol for one request the stand-in received."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None
    content_type: str = "application/json"
    host_url: str = GITHUB
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.method = self.method.lower()
        self.path = openapi_path(self.path)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.query),
            header=Headers(self.headers),
            cookie=ImmutableMultiDict(),
        )


@dataclass
class ApiResponse:
    status_code: int
    data: bytes | None
    headers: Headers
    content_type: str = "application/json; charset=utf-8"


def check_request(request: ApiRequest) -> str | None:
    try:
        openapi().validate_request(request)
    except (OpenAPIError, CastError) as error:
        return f"{request.method.upper()} {request.path}: request: {_explain(error)}"
    return None


def check_response(request: ApiRequest, response: ApiResponse) -> str | None:
    where = f"{request.method.upper()} {request.path} → {response.status_code}"
    try:
        openapi().validate_response(request, response)
    except ResponseNotFound:
        if response.status_code in API_WIDE_STATUSES:
            return _check_basic_error(where, response)
        return f"{where}: status not documented for this operation"
    except (OpenAPIError, CastError) as error:
        return f"{where}: response: {_explain(error)}"
    return None


def _check_basic_error(where: str, response: ApiResponse) -> str | None:
    schema = spec_dict()["components"]["schemas"]["basic-error"]
    try:
        OAS30Validator(schema).validate(json.loads(response.data or b"null"))
    except Exception as error:  # any validation failure is the finding
        return f"{where}: body is not a basic-error: {error}"
    return None


def _explain(error: Exception) -> str:
    details = [str(error)]
    cause = error.__cause__
    while cause is not None:
        details.append(str(cause))
        cause = cause.__cause__
    return " / ".join(details)
