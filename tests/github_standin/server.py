"""The stand-in: a WSGI app on 127.0.0.1 serving the REST endpoints the forge uses, and
the repository settings `reclaim init --github-token` sets and `reclaim doctor` reads.

State lives in a real bare git repository (refs, trees, commits, merges) plus in-memory
pull requests, issues, comments and labels. Every request and every response is checked
against the OpenAPI description; a mismatch is recorded in ``violations`` and the test
fixture fails on it. Tests steer it as a human would (close or merge a PR) and can make it
misbehave as GitHub does (rate limits, errors) with ``fail_next``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.github_standin import objects
from tests.github_standin.contract import ApiRequest, ApiResponse, check_request, check_response
from tests.github_standin.gitrepo import BareRepo

Json = dict[str, Any]
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
BODY_LIMIT = 65_536
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_SUB = "/repos/<owner>/<name>/actions/oidc/customization/sub"
_ENV = "/repos/<owner>/<name>/environments/<environment>"


class ApiError(Exception):
    def __init__(self, status: int, body: Json, headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message"))
        self.status, self.body, self.headers = status, body, headers or {}


def _invalid(resource: str, fieldname: str, message: str) -> ApiError:
    return ApiError(
        422,
        objects.error(
            "Validation Failed",
            errors=[
                {"resource": resource, "code": "custom", "field": fieldname, "message": message}
            ],
        ),
    )


@dataclass
class PullState:
    number: int
    title: str
    body: str | None
    head_ref: str
    base_ref: str
    author: str
    created_at: str
    updated_at: str
    state: str = "open"
    closed_at: str | None = None
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    last_head_sha: str = ""
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)


@dataclass
class IssueState:
    number: int
    title: str
    body: str | None
    author: str
    created_at: str
    updated_at: str
    state: str = "open"
    closed_at: str | None = None
    labels: list[str] = field(default_factory=list)


@dataclass
class CommentState:
    cid: int
    issue: int
    body: str
    author: str
    created_at: str
    updated_at: str


@dataclass
class EnvironmentState:
    """A deployment environment as its settings page shows it."""

    eid: int
    created_at: str
    updated_at: str
    reviewers: list[tuple[str, str]] = field(default_factory=list)
    """(``User`` or ``Team``, login or slug) of each required reviewer."""
    prevent_self_review: bool = False
    wait_timer: int = 0
    branch_policy: Json | None = None
    """``deployment_branch_policy``: None lets every branch deploy."""
    policies: dict[int, str] = field(default_factory=dict)
    """ID → branch name pattern of each custom deployment branch policy."""
    secrets: list[str] = field(default_factory=list)


@dataclass
class StatusState:
    """One commit status as GitHub keeps it: the latest per (sha, context) is what counts."""

    sha: str
    state: str
    description: str | None
    target_url: str | None
    context: str
    creator: str
    at: str


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    body: Json
    headers: dict[str, str]
    times: int


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    at: float


# The API's legacy `permission` field folds maintain into write and triage into read.
LEGACY_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
}


class GitHubStandIn:
    def __init__(
        self,
        root: Path,
        *,
        owner: str = "acme",
        name: str = "infra",
        prefix: str = "",
        token: str = "test-token",
        collaborators: tuple[str, ...] = ("alice", "bob"),
        teams: tuple[str, ...] = ("platform",),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.git = BareRepo(root / "repo.git")
        self.owner, self.name, self.prefix = owner, name, prefix
        self.tokens = {token: "reclaim-bot"}
        self.collaborators, self.teams = set(collaborators), set(teams)
        # Role of each user on the repository (admin, maintain, write, triage, read); a
        # collaborator without one writes. Users not listed here and not collaborators do
        # not exist.
        self.roles: dict[str, str] = {login: "write" for login in collaborators}
        self.reactions: list[tuple[int, str, str]] = []
        """(comment ID, content, who) of every reaction created."""
        self.app_keys: dict[int, str] = {}
        self.installations: dict[int, int] = {}
        self.pulls: dict[int, PullState] = {}
        self.issues: dict[int, IssueState] = {}
        self.comments: dict[int, CommentState] = {}
        self.label_ids: dict[str, int] = {}
        self.faults: list[Fault] = []
        self.statuses: list[StatusState] = []
        """Every commit status created, oldest first."""
        # Repository settings (Actions, environments, branch protection), as tests set them
        # by hand or `reclaim init --github-token` does through the API.
        self.oidc_template: Json = {"use_default": True}
        self.environments: dict[str, EnvironmentState] = {}
        self.repo_secrets: list[str] = []
        self.variables: dict[str, str] = {}
        self.protection: dict[str, list[str]] = {}
        """Protected branch → the status checks it requires."""
        self._next_id = 100
        self.log: list[Exchange] = []
        self.violations: list[str] = []
        self._next_number = 1
        self._next_comment = 5000
        self._tick = 0
        self._lock = threading.RLock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.port = self._server.server_port
        self.web = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.web}{prefix}"
        self.urls = objects.Urls(self.api_url, self.web, owner, name)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._refs: dict[str, str | None] = {}
        self._routes = Map(
            [
                Rule(r, endpoint=e, methods=[m])
                for m, r, e in (
                    ("POST", "/app/installations/<int:iid>/access_tokens", "mint_token"),
                    ("GET", "/repos/<owner>/<name>", "get_repo"),
                    ("GET", "/repos/<owner>/<name>/git/ref/<path:ref>", "get_ref"),
                    ("POST", "/repos/<owner>/<name>/git/refs", "create_ref"),
                    ("PATCH", "/repos/<owner>/<name>/git/refs/<path:ref>", "update_ref"),
                    ("GET", "/repos/<owner>/<name>/git/commits/<sha>", "get_commit"),
                    ("POST", "/repos/<owner>/<name>/git/commits", "create_commit"),
                    ("POST", "/repos/<owner>/<name>/git/trees", "create_tree"),
                    ("POST", "/repos/<owner>/<name>/git/blobs", "create_blob"),
                    ("GET", "/repos/<owner>/<name>/pulls", "list_pulls"),
                    ("POST", "/repos/<owner>/<name>/pulls", "create_pull"),
                    ("GET", "/repos/<owner>/<name>/pulls/<int:number>", "get_pull"),
                    ("PATCH", "/repos/<owner>/<name>/pulls/<int:number>", "update_pull"),
                    (
                        "POST",
                        "/repos/<owner>/<name>/pulls/<int:number>/requested_reviewers",
                        "request_reviewers",
                    ),
                    ("GET", "/repos/<owner>/<name>/commits/<sha>/pulls", "commit_pulls"),
                    ("POST", "/repos/<owner>/<name>/statuses/<sha>", "create_status"),
                    ("GET", "/repos/<owner>/<name>/issues", "list_issues"),
                    ("POST", "/repos/<owner>/<name>/issues", "create_issue"),
                    ("PATCH", "/repos/<owner>/<name>/issues/<int:number>", "update_issue"),
                    ("GET", "/repos/<owner>/<name>/issues/<int:number>", "get_issue"),
                    ("GET", "/repos/<owner>/<name>/issues/comments/<int:cid>", "get_comment"),
                    (
                        "GET",
                        "/repos/<owner>/<name>/collaborators/<username>/permission",
                        "collaborator_permission",
                    ),
                    (
                        "POST",
                        "/repos/<owner>/<name>/issues/comments/<int:cid>/reactions",
                        "create_reaction",
                    ),
                    (
                        "GET",
                        "/repos/<owner>/<name>/issues/<int:number>/comments",
                        "list_comments",
                    ),
                    (
                        "POST",
                        "/repos/<owner>/<name>/issues/<int:number>/comments",
                        "create_comment",
                    ),
                    ("PATCH", "/repos/<owner>/<name>/issues/comments/<int:cid>", "update_comment"),
                    ("POST", "/repos/<owner>/<name>/issues/<int:number>/labels", "add_labels"),
                    (
                        "DELETE",
                        "/repos/<owner>/<name>/issues/<int:number>/labels/<path:label>",
                        "remove_label",
                    ),
                    ("GET", "/users/<username>", "get_user"),
                    ("GET", "/orgs/<org>/teams/<slug>", "get_team"),
                    ("GET", f"{_SUB}", "get_oidc_template"),
                    ("PUT", f"{_SUB}", "set_oidc_template"),
                    ("GET", "/repos/<owner>/<name>/actions/secrets", "list_repo_secrets"),
                    ("GET", "/repos/<owner>/<name>/actions/variables", "list_variables"),
                    ("GET", f"{_ENV}", "get_environment"),
                    ("PUT", f"{_ENV}", "put_environment"),
                    ("GET", f"{_ENV}/secrets", "list_environment_secrets"),
                    ("GET", f"{_ENV}/deployment-branch-policies", "list_branch_policies"),
                    ("POST", f"{_ENV}/deployment-branch-policies", "create_branch_policy"),
                    (
                        "DELETE",
                        f"{_ENV}/deployment-branch-policies/<int:pid>",
                        "delete_branch_policy",
                    ),
                    (
                        "GET",
                        "/repos/<owner>/<name>/branches/<path:branch>/protection",
                        "get_protection",
                    ),
                )
            ],
            strict_slashes=False,
        )

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> GitHubStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---- what tests look at ---------------------------------------------------------------

    def writes(self) -> list[Exchange]:
        return [e for e in self.log if e.method not in ("GET", "HEAD")]

    def mark(self) -> int:
        return len(self.log)

    def since(self, mark: int) -> list[Exchange]:
        return self.log[mark:]

    def branch_file(self, branch: str, path: str) -> str | None:
        return self.git.show(f"refs/heads/{branch}", path)

    def commits_on(self, branch: str, base: str = "main") -> int:
        return int(self.git.git("rev-list", "--count", f"{base}..refs/heads/{branch}"))

    def pull_by_head(self, head_ref: str) -> list[PullState]:
        return [p for p in self.pulls.values() if p.head_ref == head_ref]

    def status_of(self, sha: str, context: str) -> StatusState | None:
        """The latest status of ``context`` on ``sha`` (what a required check reads)."""
        found = [s for s in self.statuses if s.sha == sha and s.context.lower() == context.lower()]
        return found[-1] if found else None

    def comments_on(self, number: int) -> list[CommentState]:
        return [c for c in self.comments.values() if c.issue == number]

    # ---- what humans do -----------------------------------------------------------------

    def human_close(self, number: int) -> None:
        with self._lock:
            self._refs = {}
            pull = self.pulls[number]
            pull.state, pull.closed_at = "closed", self._now()
            pull.last_head_sha = self._head_sha(pull)

    def human_merge(self, number: int) -> str:
        with self._lock:
            self._refs = {}
            pull = self.pulls[number]
            base_ref = f"refs/heads/{pull.base_ref}"
            base, head = self.git.ref(base_ref), self._head_sha(pull)
            assert base and head
            merge = self.git.merge(base, head, f"Merge pull request #{number} from {pull.head_ref}")
            self.git.set_ref(base_ref, merge, base)
            now = self._now()
            pull.state, pull.closed_at, pull.merged_at = "closed", now, now
            pull.merge_commit_sha, pull.last_head_sha = merge, head
            return merge

    def human_comment(self, number: int, login: str, body: str) -> int:
        """A person comments on an issue or pull request; returns the comment ID."""
        with self._lock:
            self._exists(number)
            now = self._now()
            cid = self._next_comment
            self._next_comment += 1
            self.comments[cid] = CommentState(cid, number, body, login, now, now)
            return cid

    def human_issue(self, title: str, login: str = "someone") -> int:
        with self._lock:
            number = self._number()
            now = self._now()
            self.issues[number] = IssueState(number, title, None, login, now, now)
            return number

    def seed_pull(self, head_ref: str, *, title: str, body: str, state: str = "closed") -> int:
        """A pull request that is not reclaim's business (bulk, for pagination)."""
        with self._lock:
            number = self._number()
            now = self._now()
            self.pulls[number] = PullState(
                number,
                title,
                body,
                head_ref,
                "main",
                "someone",
                now,
                now,
                state=state,
                closed_at=None if state == "open" else now,
                last_head_sha=self.git.ref("refs/heads/main") or "",
            )
            return number

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        *,
        body: Json | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        self.faults.append(
            Fault(
                method,
                re.compile(path),
                status,
                body or objects.error("error", status=status),
                headers or {},
                times,
            )
        )

    def register_app(self, app_id: int, public_key_pem: str, installation_id: int) -> None:
        self.app_keys[app_id] = public_key_pem
        self.installations[installation_id] = app_id

    # ---- plumbing -----------------------------------------------------------------------

    def _now(self) -> str:
        self._tick += 1
        return (_EPOCH + timedelta(seconds=self._tick)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _user(self, login: str) -> Json:
        kind = "Bot" if login.endswith("-bot") or login.endswith("[bot]") else "User"
        return objects.user(self.urls, login, 1000 + sum(map(ord, login)), kind)

    def _repo_json(self, *, full: bool = False) -> Json:
        return objects.repository(self.urls, self._user(self.owner), "main", full=full)

    def _label(self, name: str) -> Json:
        if name not in self.label_ids:
            self.label_ids[name] = 7000 + len(self.label_ids)
        return objects.label(self.urls, name, self.label_ids[name])

    def _ref(self, name: str) -> str | None:
        """A ref, remembered for the rest of the request (listings resolve many)."""
        if name not in self._refs:
            self._refs[name] = self.git.ref(name)
        return self._refs[name]

    def _head_sha(self, pull: PullState) -> str:
        return self._ref(f"refs/heads/{pull.head_ref}") or pull.last_head_sha

    def _pull_json(self, pull: PullState, *, detailed: bool = False) -> Json:
        head = self._head_sha(pull)
        base = self._ref(f"refs/heads/{pull.base_ref}") or ""
        extra = None
        if detailed:
            changed = self.git.changed_files(base, head) if head and base else 0
            extra = {
                "merged": pull.merged_at is not None,
                "mergeable": True if pull.state == "open" else None,
                "rebaseable": True if pull.state == "open" else None,
                "mergeable_state": "clean" if pull.state == "open" else "unknown",
                "merged_by": self._user("alice") if pull.merged_at else None,
                "comments": len(self.comments_on(pull.number)),
                "review_comments": 0,
                "maintainer_can_modify": True,
                "commits": self.commits_on(pull.head_ref, pull.base_ref)
                if self._ref(f"refs/heads/{pull.head_ref}")
                else 1,
                "additions": changed * 10,
                "deletions": 0,
                "changed_files": changed,
            }
        return objects.pull(
            self.urls,
            number=pull.number,
            title=pull.title,
            body=pull.body,
            state=pull.state,
            author=self._user(pull.author),
            head_ref=pull.head_ref,
            head_sha=head,
            base_ref=pull.base_ref,
            base_sha=base,
            repo=self._repo_json(),
            labels=[self._label(n) for n in pull.labels],
            created_at=pull.created_at,
            updated_at=pull.updated_at,
            closed_at=pull.closed_at,
            merged_at=pull.merged_at,
            merge_commit_sha=pull.merge_commit_sha,
            reviewers=[self._user(r) for r in pull.reviewers],
            detailed=extra,
        )

    def _issue_json(self, number: int) -> Json:
        if number in self.pulls:
            pull = self.pulls[number]
            data = objects.issue(
                self.urls,
                number=number,
                title=pull.title,
                body=pull.body,
                state=pull.state,
                author=self._user(pull.author),
                labels=[self._label(n) for n in pull.labels],
                comments=len(self.comments_on(number)),
                created_at=pull.created_at,
                updated_at=pull.updated_at,
                closed_at=pull.closed_at,
                is_pull=True,
            )
            data["pull_request"]["merged_at"] = pull.merged_at
            return data
        issue = self.issues[number]
        return objects.issue(
            self.urls,
            number=number,
            title=issue.title,
            body=issue.body,
            state=issue.state,
            author=self._user(issue.author),
            labels=[self._label(n) for n in issue.labels],
            comments=len(self.comments_on(number)),
            created_at=issue.created_at,
            updated_at=issue.updated_at,
            closed_at=issue.closed_at,
            is_pull=False,
        )

    def _comment_json(self, comment: CommentState) -> Json:
        return objects.comment(
            self.urls,
            cid=comment.cid,
            issue_number=comment.issue,
            body=comment.body,
            author=self._user(comment.author),
            created=comment.created_at,
            updated=comment.updated_at,
        )

    def _check_repo(self, owner: str, name: str) -> None:
        if (owner, name) != (self.owner, self.name):
            raise ApiError(404, objects.error("Not Found", status=404))

    def _paginate(
        self, request: Request, items: list[Json], default: int = 30, most: int = 100
    ) -> tuple[list[Json], dict[str, str]]:
        per_page = min(int(request.args.get("per_page", default)), most)
        page = max(int(request.args.get("page", 1)), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        links = []
        query = {k: v for k, v in request.args.items(multi=True) if k != "page"}
        base = f"{self.web}{request.path}"
        if page < last:
            links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
            links.append(f'<{base}?{urlencode({**query, "page": last})}>; rel="last"')
        if page > 1:
            links.append(f'<{base}?{urlencode({**query, "page": 1})}>; rel="first"')
            links.append(f'<{base}?{urlencode({**query, "page": page - 1})}>; rel="prev"')
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _user_for(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "bearer" and request.path.endswith("/access_tokens"):
            return "app"
        login = self.tokens.get(credential) if scheme.lower() in ("token", "bearer") else None
        if login is None:
            raise ApiError(401, objects.error("Bad credentials", status=401))
        return login

    # ---- WSGI ---------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self._lock:
            response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        self._refs = {}
        path = request.path
        if self.prefix:
            if not path.startswith(self.prefix):
                return self._respond(request, path, 404, objects.error("Not Found", status=404))
            path = path[len(self.prefix) :] or "/"
        api_request = ApiRequest(
            method=request.method,
            path=path,
            query=list(request.args.items(multi=True)),
            headers=dict(request.headers),
            body=request.get_data() or None,
            content_type=request.content_type or "application/json",
        )
        problem = check_request(api_request)
        if problem:
            self.violations.append(problem)
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and fault.path.search(path):
                fault.times -= 1
                return self._respond(
                    request, path, fault.status, fault.body, fault.headers, api_request
                )
        try:
            adapter = self._routes.bind("standin", path_info=path)
            endpoint, args = adapter.match(path, method=request.method)
            login = self._user_for(request)
            payload = request.get_json(silent=True) if request.data else None
            status, body, headers = getattr(self, f"_op_{endpoint}")(
                request, login, payload or {}, **args
            )
        except ApiError as error:
            status, body, headers = error.status, error.body, error.headers
        except NotFound:
            status, body, headers = 404, objects.error("Not Found", status=404), {}
        except HTTPException as error:
            status = error.code or 500
            body, headers = objects.error(error.name, status=status), {}
        return self._respond(request, path, status, body, headers, api_request)

    def _respond(
        self,
        request: Request,
        path: str,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        api_request: ApiRequest | None = None,
    ) -> Response:
        data = b"" if body is None else json.dumps(body).encode()
        all_headers = Headers(
            {
                "Content-Type": "application/json; charset=utf-8",
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "4999",
                "X-RateLimit-Reset": str(int(time.time()) + 3600),
                "X-RateLimit-Used": "1",
                "X-RateLimit-Resource": "core",
                "X-GitHub-Api-Version-Selected": "2022-11-28",
                **(headers or {}),
            }
        )
        if api_request is not None:
            problem = check_response(
                api_request,
                ApiResponse(status, data or None, all_headers, all_headers["Content-Type"]),
            )
            if problem:
                self.violations.append(problem)
        self.log.append(Exchange(request.method, path, status, self.clock()))
        return Response(data, status=status, headers=all_headers)

    # ---- operations ---------------------------------------------------------------------

    def _op_mint_token(self, request: Request, _login: str, _p: Json, iid: int) -> Any:
        app_id = self.installations.get(iid)
        token = request.headers.get("Authorization", "").partition(" ")[2]
        try:
            claims = jwt.decode(token, self.app_keys.get(app_id or -1, ""), algorithms=["RS256"])
        except (jwt.PyJWTError, ValueError):
            raise ApiError(
                401, objects.error("A JSON web token could not be decoded", status=401)
            ) from None
        if str(claims.get("iss")) != str(app_id):
            raise ApiError(
                401, objects.error("'Issuer' claim ('iss') must be an Integer", status=401)
            )
        installation_token = f"ghs_installation_{iid}_{len(self.tokens)}"
        self.tokens[installation_token] = "reclaim-app[bot]"
        expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "token": installation_token,
            "expires_at": expires,
            "permissions": {"contents": "write", "pull_requests": "write", "issues": "write"},
            "repository_selection": "selected",
        }
        return 201, body, {}

    def _op_get_repo(self, _r: Request, _l: str, _p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        return 200, self._repo_json(full=True), {}

    def _op_get_ref(self, _r: Request, _l: str, _p: Json, owner: str, name: str, ref: str) -> Any:
        self._check_repo(owner, name)
        sha = self.git.ref(f"refs/{ref}") if ref.startswith(("heads/", "tags/")) else None
        if sha is None:
            raise ApiError(404, objects.error("Not Found", status=404))
        return 200, objects.git_ref(self.urls, f"refs/{ref}", sha), {}

    def _op_create_ref(self, _r: Request, _l: str, p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        ref, sha = p.get("ref", ""), p.get("sha", "")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise ApiError(422, objects.error(f"{ref} is not a valid ref name."))
        if self.git.ref(ref):
            raise ApiError(422, objects.error("Reference already exists"))
        if self.git.kind(sha) != "commit":
            raise ApiError(422, objects.error("Object does not exist"))
        self.git.set_ref(ref, sha)
        return 201, objects.git_ref(self.urls, ref, sha), {}

    def _op_update_ref(self, _r: Request, _l: str, p: Json, owner: str, name: str, ref: str) -> Any:
        self._check_repo(owner, name)
        full = f"refs/{ref}"
        current = self.git.ref(full)
        if current is None:
            raise ApiError(422, objects.error("Reference does not exist"))
        sha = p.get("sha", "")
        if self.git.kind(sha) != "commit":
            raise ApiError(422, objects.error("Object does not exist"))
        if not p.get("force") and not self.git.is_ancestor(current, sha):
            raise ApiError(422, objects.error("Update is not a fast forward"))
        self.git.set_ref(full, sha, current)
        return 200, objects.git_ref(self.urls, full, sha), {}

    def _commit_json(self, sha: str) -> Json:
        return objects.git_commit(
            self.urls,
            sha=sha,
            tree=self.git.tree_of(sha),
            parents=self.git.parents(sha),
            message=self.git.message(sha),
            date="2026-01-01T00:00:00Z",
        )

    def _op_get_commit(
        self, _r: Request, _l: str, _p: Json, owner: str, name: str, sha: str
    ) -> Any:
        self._check_repo(owner, name)
        if self.git.kind(sha) != "commit":
            raise ApiError(404, objects.error("Not Found", status=404))
        return 200, self._commit_json(self.git.ref(sha) or sha), {}

    def _op_create_commit(self, _r: Request, _l: str, p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        tree, parents = p.get("tree", ""), p.get("parents", [])
        if self.git.kind(tree) != "tree" or any(self.git.kind(x) != "commit" for x in parents):
            raise _invalid("Commit", "tree", "tree or parent SHA does not exist")
        sha = self.git.commit(tree, parents, p.get("message", ""))
        return 201, self._commit_json(sha), {}

    def _op_create_tree(self, _r: Request, _l: str, p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        base = p.get("base_tree")
        if base and self.git.kind(base) != "tree":
            raise _invalid("Tree", "base_tree", "base_tree is not a valid tree oid")
        by_content: dict[str, str | None] = {}
        by_sha: dict[str, str | None] = {}
        for entry in p.get("tree", []):
            if entry.get("type") != "blob" or entry.get("mode") != "100644":
                raise _invalid("Tree", "tree", "the stand-in supports regular file blobs only")
            if "content" in entry:
                by_content[entry["path"]] = entry["content"]
            else:
                by_sha[entry["path"]] = entry.get("sha")
        tree = self.git.write_tree(by_content, base)
        if by_sha:
            tree = self.git.write_tree(by_sha, tree, blobs=True)
        return 201, objects.git_tree(self.urls, tree, self.git.entries(tree)), {}

    def _op_create_blob(self, _r: Request, _l: str, p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        content = p.get("content", "")
        raw = (
            __import__("base64").b64decode(content)
            if p.get("encoding") == "base64"
            else content.encode()
        )
        sha = self.git.blob(raw)
        return 201, {"url": f"{self.urls.repo}/git/blobs/{sha}", "sha": sha}, {}

    def _op_list_pulls(self, request: Request, _l: str, _p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        state = request.args.get("state", "open")
        head, base = request.args.get("head"), request.args.get("base")
        selected = [
            pull
            for pull in self.pulls.values()
            if (state == "all" or pull.state == state)
            and (base is None or pull.base_ref == base)
            and (head is None or f"{self.owner}:{pull.head_ref}" == head)
        ]
        newest_first = request.args.get("direction", "desc")
        selected.sort(key=lambda p: p.number, reverse=newest_first == "desc")
        page, headers = self._paginate(request, [self._pull_json(p) for p in selected])
        return 200, page, headers

    def _too_long(self, resource: str, text: str | None) -> None:
        if text is not None and len(text) > BODY_LIMIT:
            raise _invalid(
                resource, "body", f"body is too long (maximum is {BODY_LIMIT} characters)"
            )

    def _op_create_pull(self, _r: Request, login: str, p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        head, base = p.get("head", ""), p.get("base", "")
        head = head.split(":", 1)[1] if ":" in head else head
        self._too_long("PullRequest", p.get("body"))
        head_sha, base_sha = self.git.ref(f"refs/heads/{head}"), self.git.ref(f"refs/heads/{base}")
        if head_sha is None:
            raise _invalid("PullRequest", "head", "head is invalid")
        if base_sha is None:
            raise _invalid("PullRequest", "base", "base is invalid")
        if any(
            x.state == "open" and x.head_ref == head and x.base_ref == base
            for x in self.pulls.values()
        ):
            raise _invalid(
                "PullRequest", "head", f"A pull request already exists for {self.owner}:{head}."
            )
        if self.git.is_ancestor(head_sha, base_sha):
            raise _invalid("PullRequest", "head", f"No commits between {base} and {head}")
        now = self._now()
        pull = PullState(
            self._number(),
            p.get("title", ""),
            p.get("body"),
            head,
            base,
            login,
            now,
            now,
            last_head_sha=head_sha,
        )
        self.pulls[pull.number] = pull
        return 201, self._pull_json(pull, detailed=True), {}

    def _pull(self, number: int) -> PullState:
        if number not in self.pulls:
            raise ApiError(404, objects.error("Not Found", status=404))
        return self.pulls[number]

    def _op_get_pull(
        self, _r: Request, _l: str, _p: Json, owner: str, name: str, number: int
    ) -> Any:
        self._check_repo(owner, name)
        return 200, self._pull_json(self._pull(number), detailed=True), {}

    def _op_update_pull(
        self, _r: Request, _l: str, p: Json, owner: str, name: str, number: int
    ) -> Any:
        self._check_repo(owner, name)
        pull = self._pull(number)
        self._too_long("PullRequest", p.get("body"))
        if "title" in p:
            pull.title = p["title"]
        if "body" in p:
            pull.body = p["body"]
        if p.get("state") in ("open", "closed") and p["state"] != pull.state:
            if pull.merged_at:
                raise _invalid(
                    "PullRequest", "state", "Cannot change the state of a merged pull request"
                )
            pull.state = p["state"]
            pull.closed_at = self._now() if pull.state == "closed" else None
            pull.last_head_sha = self._head_sha(pull)
        pull.updated_at = self._now()
        return 200, self._pull_json(pull, detailed=True), {}

    def _op_request_reviewers(
        self, _r: Request, _l: str, p: Json, owner: str, name: str, number: int
    ) -> Any:
        self._check_repo(owner, name)
        pull = self._pull(number)
        users, teams = p.get("reviewers", []), p.get("team_reviewers", [])
        if any(u not in self.collaborators for u in users) or any(
            t not in self.teams for t in teams
        ):
            raise ApiError(
                422,
                objects.error(
                    "Reviews may only be requested from collaborators. One or more of the users "
                    f"or teams you specified is not a collaborator of the {self.owner}/{self.name} "
                    "repository."
                ),
            )
        pull.reviewers += [u for u in users if u not in pull.reviewers]
        pull.teams += [t for t in teams if t not in pull.teams]
        return 201, self._pull_json(pull), {}

    def _op_commit_pulls(
        self, request: Request, _l: str, _p: Json, owner: str, name: str, sha: str
    ) -> Any:
        self._check_repo(owner, name)
        if self.git.kind(sha) != "commit":
            raise ApiError(422, objects.error(f"No commit found for SHA: {sha}"))
        related = [
            pull
            for pull in self.pulls.values()
            if pull.merge_commit_sha == sha or self._head_sha(pull) == sha
        ]
        page, headers = self._paginate(request, [self._pull_json(p) for p in related])
        return 200, page, headers

    def _op_list_issues(self, request: Request, _l: str, _p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        state = request.args.get("state", "open")
        wanted = [x for x in request.args.get("labels", "").split(",") if x]
        numbers = sorted({*self.issues, *self.pulls}, reverse=True)
        items = []
        for number in numbers:
            item = self._issue_json(number)
            names = {label["name"] for label in item["labels"]}
            if (state == "all" or item["state"] == state) and all(w in names for w in wanted):
                items.append(item)
        page, headers = self._paginate(request, items)
        return 200, page, headers

    def _op_create_issue(self, _r: Request, login: str, p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        self._too_long("Issue", p.get("body"))
        now = self._now()
        issue = IssueState(
            self._number(),
            p.get("title", ""),
            p.get("body"),
            login,
            now,
            now,
            labels=[x if isinstance(x, str) else x["name"] for x in p.get("labels", [])],
        )
        self.issues[issue.number] = issue
        return 201, self._issue_json(issue.number), {}

    def _op_update_issue(
        self, _r: Request, _l: str, p: Json, owner: str, name: str, number: int
    ) -> Any:
        self._check_repo(owner, name)
        if number not in self.issues:
            raise ApiError(404, objects.error("Not Found", status=404))
        issue = self.issues[number]
        self._too_long("Issue", p.get("body"))
        issue.title = p.get("title", issue.title)
        issue.body = p.get("body", issue.body)
        if p.get("state") in ("open", "closed"):
            issue.state = p["state"]
        issue.updated_at = self._now()
        return 200, self._issue_json(number), {}

    def _exists(self, number: int) -> None:
        if number not in self.issues and number not in self.pulls:
            raise ApiError(404, objects.error("Not Found", status=404))

    def _op_list_comments(
        self, request: Request, _l: str, _p: Json, owner: str, name: str, number: int
    ) -> Any:
        self._check_repo(owner, name)
        self._exists(number)
        items = [self._comment_json(c) for c in self.comments_on(number)]
        page, headers = self._paginate(request, items)
        return 200, page, headers

    def _op_create_comment(
        self, _r: Request, login: str, p: Json, owner: str, name: str, number: int
    ) -> Any:
        self._check_repo(owner, name)
        self._exists(number)
        self._too_long("IssueComment", p.get("body"))
        now = self._now()
        comment = CommentState(self._next_comment, number, p.get("body", ""), login, now, now)
        self._next_comment += 1
        self.comments[comment.cid] = comment
        return 201, self._comment_json(comment), {}

    def _op_update_comment(
        self, _r: Request, _l: str, p: Json, owner: str, name: str, cid: int
    ) -> Any:
        self._check_repo(owner, name)
        if cid not in self.comments:
            raise ApiError(404, objects.error("Not Found", status=404))
        self._too_long("IssueComment", p.get("body"))
        comment = self.comments[cid]
        comment.body, comment.updated_at = p.get("body", ""), self._now()
        return 200, self._comment_json(comment), {}

    def _labels_of(self, number: int) -> list[str]:
        self._exists(number)
        return self.pulls[number].labels if number in self.pulls else self.issues[number].labels

    def _op_add_labels(
        self, _r: Request, _l: str, p: Json, owner: str, name: str, number: int
    ) -> Any:
        self._check_repo(owner, name)
        labels = self._labels_of(number)
        given = p.get("labels", []) if isinstance(p, dict) else p
        for item in given:
            label_name = item if isinstance(item, str) else item.get("name", "")
            if label_name not in labels:
                labels.append(label_name)
        return 200, [self._label(n) for n in labels], {}

    def _op_remove_label(
        self, _r: Request, _l: str, _p: Json, owner: str, name: str, number: int, label: str
    ) -> Any:
        self._check_repo(owner, name)
        labels = self._labels_of(number)
        if label not in labels:
            raise ApiError(404, objects.error("Label does not exist", status=404))
        labels.remove(label)
        return 200, [self._label(n) for n in labels], {}

    # ---- issues, permissions, reactions (the /rollback gate) ------------------------------

    def _op_get_issue(
        self, _r: Request, _l: str, _p: Json, owner: str, name: str, number: int
    ) -> Any:
        self._check_repo(owner, name)
        self._exists(number)
        return 200, self._issue_json(number), {}

    def _op_get_comment(
        self, _r: Request, _l: str, _p: Json, owner: str, name: str, cid: int
    ) -> Any:
        self._check_repo(owner, name)
        if cid not in self.comments:
            raise ApiError(404, objects.error("Not Found", status=404))
        return 200, self._comment_json(self.comments[cid]), {}

    def _op_collaborator_permission(
        self, _r: Request, _l: str, _p: Json, owner: str, name: str, username: str
    ) -> Any:
        self._check_repo(owner, name)
        role = self.roles.get(username)
        if role is None:
            raise ApiError(404, objects.error("Not Found", status=404))
        collaborator = {**self._user(username), "role_name": role}
        body = {
            "permission": LEGACY_PERMISSION[role],
            "role_name": role,
            "user": collaborator,
        }
        return 200, body, {}

    def _op_create_reaction(
        self, _r: Request, login: str, p: Json, owner: str, name: str, cid: int
    ) -> Any:
        self._check_repo(owner, name)
        if cid not in self.comments:
            raise ApiError(404, objects.error("Not Found", status=404))
        content = p.get("content", "")
        self.reactions.append((cid, content, login))
        reaction = {
            "id": len(self.reactions),
            "node_id": f"REA_{len(self.reactions)}",
            "user": self._user(login),
            "content": content,
            "created_at": self._now(),
        }
        return 201, reaction, {}

    # ---- repository settings (`reclaim init --github-token`, `reclaim doctor`) ------------

    def human_environment(
        self, name: str, *, policies: tuple[str, ...] = (), **settings: Any
    ) -> EnvironmentState:
        """Someone sets up an environment by hand: ``settings`` are EnvironmentState fields,
        ``policies`` its custom deployment branch policies."""
        with self._lock:
            now = self._now()
            env = self.environments.setdefault(name, EnvironmentState(self._id(), now, now))
            for key, value in settings.items():
                setattr(env, key, value)
            env.policies.update({self._id(): pattern for pattern in policies})
            return env

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _team_id(self, slug: str) -> int:
        return 3000 + sum(map(ord, slug))

    def _logins(self) -> set[str]:
        return {*self.roles, *self.collaborators}

    def _op_get_user(self, _r: Request, _l: str, _p: Json, username: str) -> Any:
        if username not in self._logins():
            raise ApiError(404, objects.error("Not Found", status=404))
        return 200, objects.public_user(self.urls, username, self._user(username)["id"]), {}

    def _op_get_team(self, _r: Request, _l: str, _p: Json, org: str, slug: str) -> Any:
        if org != self.owner or slug not in self.teams:
            raise ApiError(404, objects.error("Not Found", status=404))
        return 200, objects.team(self.urls, slug, self._team_id(slug), full=True), {}

    def _op_get_oidc_template(self, _r: Request, _l: str, _p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        return 200, self.oidc_template, {}

    def _op_set_oidc_template(self, _r: Request, _l: str, p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        self.oidc_template = dict(p)
        return 201, {}, {}

    def _listing(self, request: Request, key: str, items: list[Json], **paging: int) -> Any:
        page, headers = self._paginate(request, items, **paging)
        return 200, {"total_count": len(items), key: page}, headers

    def _op_list_repo_secrets(
        self, request: Request, _l: str, _p: Json, owner: str, name: str
    ) -> Any:
        self._check_repo(owner, name)
        at = self._now()
        return self._listing(request, "secrets", [objects.named(n, at) for n in self.repo_secrets])

    def _op_list_variables(self, request: Request, _l: str, _p: Json, owner: str, name: str) -> Any:
        self._check_repo(owner, name)
        at = self._now()
        variables = [objects.named(n, at, value=v) for n, v in self.variables.items()]
        return self._listing(request, "variables", variables, default=10, most=30)

    def _environment(self, owner: str, name: str, environment: str) -> EnvironmentState:
        self._check_repo(owner, name)
        if environment not in self.environments:
            raise ApiError(404, objects.error("Not Found", status=404))
        return self.environments[environment]

    def _environment_json(self, environment: str) -> Json:
        env = self.environments[environment]
        rules: list[Json] = []
        if env.wait_timer:
            rules.append({"type": "wait_timer", "wait_timer": env.wait_timer})
        if env.reviewers:
            reviewers = [
                {
                    "type": kind,
                    "reviewer": self._user(who)
                    if kind == "User"
                    else objects.team(self.urls, who, self._team_id(who)),
                }
                for kind, who in env.reviewers
            ]
            rules.append(
                {
                    "type": "required_reviewers",
                    "prevent_self_review": env.prevent_self_review,
                    "reviewers": reviewers,
                }
            )
        if env.branch_policy:
            rules.append({"type": "branch_policy"})
        return objects.environment(
            self.urls,
            environment,
            env.eid,
            rules=rules,
            branch_policy=env.branch_policy,
            created=env.created_at,
            updated=env.updated_at,
        )

    def _op_get_environment(
        self, _r: Request, _l: str, _p: Json, owner: str, name: str, environment: str
    ) -> Any:
        self._environment(owner, name, environment)
        return 200, self._environment_json(environment), {}

    def _reviewer(self, entry: Json) -> tuple[str, str]:
        kind, rid = entry.get("type"), entry.get("id")
        known = self._logins() if kind == "User" else self.teams
        ids = self._user if kind == "User" else (lambda s: {"id": self._team_id(s)})
        for who in known:
            if ids(who)["id"] == rid:
                return str(kind), who
        raise _invalid("Environment", "reviewers", f"{kind} {rid} is not a valid reviewer")

    def _op_put_environment(
        self, _r: Request, _l: str, p: Json, owner: str, name: str, environment: str
    ) -> Any:
        """A PUT sets every protection rule: what the body leaves out is removed."""
        self._check_repo(owner, name)
        policy = p.get("deployment_branch_policy")
        if policy and policy.get("protected_branches") and policy.get("custom_branch_policies"):
            raise _invalid(
                "Environment", "deployment_branch_policy", "only one of the two may be true"
            )
        reviewers = [self._reviewer(r) for r in p.get("reviewers") or []]
        env = self.human_environment(
            environment,
            reviewers=reviewers,
            prevent_self_review=p.get("prevent_self_review", False),
            wait_timer=p.get("wait_timer", 0),
            branch_policy=policy,
        )
        env.updated_at = self._now()
        return 200, self._environment_json(environment), {}

    def _op_list_environment_secrets(
        self, request: Request, _l: str, _p: Json, owner: str, name: str, environment: str
    ) -> Any:
        env = self._environment(owner, name, environment)
        at = self._now()
        return self._listing(request, "secrets", [objects.named(n, at) for n in env.secrets])

    def _op_list_branch_policies(
        self, request: Request, _l: str, _p: Json, owner: str, name: str, environment: str
    ) -> Any:
        env = self._environment(owner, name, environment)
        policies = [objects.branch_policy(pid, n) for pid, n in env.policies.items()]
        return self._listing(request, "branch_policies", policies)

    def _op_create_branch_policy(
        self, _r: Request, _l: str, p: Json, owner: str, name: str, environment: str
    ) -> Any:
        env = self._environment(owner, name, environment)
        if not (env.branch_policy or {}).get("custom_branch_policies"):
            # as documented: custom_branch_policies must be set first
            raise ApiError(404, objects.error("Not Found", status=404))
        pid = self._id()
        env.policies[pid] = p["name"]
        return 200, objects.branch_policy(pid, p["name"]), {}

    def _op_delete_branch_policy(
        self, _r: Request, _l: str, _p: Json, owner: str, name: str, environment: str, pid: int
    ) -> Any:
        env = self._environment(owner, name, environment)
        if env.policies.pop(pid, None) is None:
            raise ApiError(404, objects.error("Not Found", status=404))
        return 204, None, {}

    def _op_get_protection(
        self, _r: Request, _l: str, _p: Json, owner: str, name: str, branch: str
    ) -> Any:
        self._check_repo(owner, name)
        if self.git.ref(f"refs/heads/{branch}") is None:
            raise ApiError(404, objects.error("Branch not found", status=404))
        if branch not in self.protection:
            raise ApiError(404, objects.error("Branch not protected", status=404))
        body = objects.branch_protection(self.urls, branch, self.protection[branch])
        return 200, body, {}

    # GitHub refuses a longer description with 422 (documented on "Create a commit status").
    STATUS_DESCRIPTION_LIMIT = 140

    def _op_create_status(
        self, _r: Request, login: str, p: Json, owner: str, name: str, sha: str
    ) -> Any:
        self._check_repo(owner, name)
        if self.git.kind(sha) != "commit":
            raise _invalid("Status", "sha", f"No commit found for SHA: {sha}")
        description = p.get("description")
        if description is not None and len(description) > self.STATUS_DESCRIPTION_LIMIT:
            raise _invalid(
                "Status", "description", "description is too long (maximum is 140 characters)"
            )
        status = StatusState(
            sha=sha,
            state=p["state"],
            description=description,
            target_url=p.get("target_url"),
            context=p.get("context", "default"),
            creator=login,
            at=self._now(),
        )
        self.statuses.append(status)
        body = objects.commit_status(
            self.urls,
            sid=len(self.statuses),
            sha=sha,
            state=status.state,
            description=description,
            target_url=status.target_url,
            context=status.context,
            at=status.at,
            creator=self._user(login),
        )
        return 201, body, {}
