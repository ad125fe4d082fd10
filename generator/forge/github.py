"""The GitHub forge: one pull request per finding, through PyGithub.

Each proposal is a single commit built with the Git Data API (one tree with the files'
contents inline, one commit, one ref update: no call per file). Everything reclaim needs to
decide the next run is in the PR itself (a hidden meta comment in the body), so there is no
state to lose. Every write goes through `_write`, which spaces writes at least a second apart
and turns GitHub's errors into `ForgeError`s that say what was being done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import requests
from github import Auth, Github, GithubException, InputGitTreeElement
from github.GitCommit import GitCommit
from github.GithubException import (
    BadCredentialsException,
    RateLimitExceededExceedsMaxWait,
    RateLimitExceededException,
    UnknownObjectException,
)
from github.GitRef import GitRef
from github.PaginatedList import PaginatedList
from github.PullRequest import PullRequest
from github.Repository import Repository

from generator.errors import ForgeError
from generator.forge.base import (
    ExistingProposal,
    FollowUp,
    Forge,
    Outcome,
    Proposal,
    ProposalResult,
    ProposalState,
    RateLimitReached,
    ResultComment,
    RunState,
    branch_for,
)
from generator.forge.body import fit_body, size
from generator.forge.dashboard import (
    DASHBOARD_KIND,
    DASHBOARD_LABEL,
    DASHBOARD_TITLE,
    same_dashboard,
)
from generator.forge.markers import (
    ProposalMeta,
    has_marker,
    kind_marker,
    meta_comment,
    read_meta,
    strip_meta,
)
from generator.forge.throttle import DEFAULT_MAX_WAIT_SECONDS, ReclaimRetry, Sleeper, WritePacer

T = TypeVar("T")
BRANCH_PREFIX = "reclaim/"
APPLIED_LABEL = "reclaim:applied"
ROLLED_BACK_LABEL = "reclaim:rolled-back"
FAILED_LABEL = "reclaim:failed"
# Labels reclaim derives from the finding; anything else on a PR belongs to humans.
_DERIVED_PREFIXES = ("reclaim:", "risk:", "savings:")
_STATE_LABELS = {APPLIED_LABEL, ROLLED_BACK_LABEL, FAILED_LABEL, DASHBOARD_LABEL}


@dataclass(frozen=True)
class GitHubSettings:
    repository: str
    base_branch: str = "main"
    api_url: str = "https://api.github.com"
    reviewers: tuple[str, ...] = ()
    max_wait: float = DEFAULT_MAX_WAIT_SECONDS


def connect(
    settings: GitHubSettings,
    auth: Auth.Auth,
    *,
    sleeper: Sleeper | None = None,
    pacer: WritePacer | None = None,
) -> GitHubForge:
    """A forge on ``settings.repository``; ``sleeper``/``pacer`` let tests run without sleeping."""
    retry = ReclaimRetry(max_wait=settings.max_wait, sleeper=sleeper)
    client = Github(
        auth=auth,
        base_url=settings.api_url.rstrip("/"),
        retry=retry,
        per_page=100,
        seconds_between_requests=None,
        seconds_between_writes=None,  # WritePacer spaces writes, with an injectable clock
        user_agent="reclaim",
    )
    forge = GitHubForge(client, settings, pacer or WritePacer())
    forge.repo  # noqa: B018  (fail early, with a clear message, on a wrong repository or token)
    return forge


def _describe(error: GithubException) -> str:
    data = error.data if isinstance(error.data, dict) else {}
    message = str(data.get("message") or error.message or "no message")
    details = []
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            details.append(str(item.get("message") or item.get("code") or item))
        else:
            details.append(str(item))
    return message + (f" ({'; '.join(details)})" if details else "")


class GitHubForge(Forge):
    def __init__(self, client: Github, settings: GitHubSettings, pacer: WritePacer) -> None:
        self.client = client
        self.settings = settings
        self.pacer = pacer
        self._repo: Repository | None = None
        self._pulls: dict[str, PullRequest] | None = None
        self._base_sha: str | None = None

    # ---- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        where = f"{self.settings.repository} at {self.settings.api_url}"
        try:
            yield
        except RateLimitExceededExceedsMaxWait as error:
            wait = f" (GitHub asked to wait {error.wait:.0f} s)" if error.wait else ""
            raise RateLimitReached(
                f"GitHub rate limit reached while {what}{wait}",
                hint="nothing is half-done; the next run continues from here",
            ) from None
        except RateLimitExceededException:
            raise RateLimitReached(
                f"GitHub rate limit reached while {what}",
                hint="nothing is half-done; the next run continues from here",
            ) from None
        except BadCredentialsException:
            raise ForgeError(
                f"GitHub rejected the credentials while {what} ({where})",
                hint="check RECLAIM_GITHUB_TOKEN / GITHUB_TOKEN or the GitHub App settings",
            ) from None
        except UnknownObjectException as error:
            raise ForgeError(
                f"GitHub answered 404 while {what} ({where}): {_describe(error)}",
                hint="check forge.repository and that the token or App can see it",
            ) from None
        except GithubException as error:
            hint = None
            if error.status == 403:
                hint = (
                    "the token needs contents, pull-requests and issues write permission "
                    "on the repository"
                )
            elif error.status == 422:
                hint = "GitHub refused the request as sent; the message says which field"
            raise ForgeError(
                f"GitHub refused {what} ({where}): {error.status} {_describe(error)}", hint=hint
            ) from None
        except requests.exceptions.RetryError as error:
            raise RateLimitReached(
                f"GitHub kept failing while {what} ({where}) after retries: {error}",
                hint="GitHub may be degraded; the next run continues from here",
            ) from None
        except requests.exceptions.RequestException as error:
            raise ForgeError(f"cannot reach GitHub while {what} ({where}): {error}") from None

    def _write(self, what: str, call: Callable[[], T]) -> T:
        with self._calling(what):
            return self.pacer.run(call)

    def _read(self, what: str, call: Callable[[], T]) -> T:
        with self._calling(what):
            return call()

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            self._repo = self._read(
                f"reading repository {self.settings.repository}",
                lambda: self.client.get_repo(self.settings.repository),
            )
        return self._repo

    @property
    def writes(self) -> int:
        return self.pacer.writes

    # ---- what exists --------------------------------------------------------------------

    def _ours(self, pull: PullRequest) -> bool:
        head = pull.head
        return (
            head.ref.startswith(BRANCH_PREFIX)
            and head.repo is not None
            and head.repo.full_name.lower() == self.repo.full_name.lower()
        )

    def _same_repo(self, pull: PullRequest) -> bool:
        head = pull.head.repo
        return head is not None and head.full_name.lower() == self.repo.full_name.lower()

    def _load_pulls(self) -> dict[str, PullRequest]:
        if self._pulls is None:
            listed: dict[str, list[PullRequest]] = {}

            def list_all() -> None:
                pages = self.repo.get_pulls(
                    state="all", base=self.settings.base_branch, sort="created", direction="desc"
                )
                for pull in pages:
                    if self._ours(pull):
                        finding = pull.head.ref.removeprefix(BRANCH_PREFIX)
                        listed.setdefault(finding, []).append(pull)

            self._read("listing pull requests", list_all)
            self._pulls = {finding: _current(pulls) for finding, pulls in listed.items()}
        return self._pulls

    def existing_proposals(self) -> dict[str, ExistingProposal]:
        return {finding: _existing(finding, pull) for finding, pull in self._load_pulls().items()}

    # ---- proposing ----------------------------------------------------------------------

    def propose(self, proposal: Proposal) -> ProposalResult:
        pulls = self._load_pulls()
        held = pulls.get(proposal.finding_id)
        meta = ProposalMeta(
            finding_id=proposal.finding_id,
            fingerprint=proposal.fingerprint,
            monthly_usd=proposal.monthly_usd,
            rule=proposal.rule,
            account=proposal.account,
            region=proposal.region,
        )
        body = self._pr_body(proposal, meta)
        if held is not None and held.state == "open":
            current = read_meta(held.body)
            if proposal.fingerprint and current and current.fingerprint == proposal.fingerprint:
                return ProposalResult(proposal.finding_id, Outcome.UNCHANGED, held.html_url)
            self._commit(proposal)
            self._write(
                f"updating {held.html_url}",
                lambda: held.edit(title=proposal.title, body=body),
            )
            self._sync_labels(held, proposal.labels)
            return ProposalResult(proposal.finding_id, Outcome.UPDATED, held.html_url)
        self._commit(proposal)
        pull = self._open_pull(
            f"the pull request for {proposal.finding_id}",
            proposal.branch,
            proposal.title,
            body,
            proposal.labels,
        )
        pulls[proposal.finding_id] = pull
        return ProposalResult(proposal.finding_id, Outcome.CREATED, pull.html_url)

    def _pr_body(self, proposal: Proposal, meta: ProposalMeta) -> str:
        hidden = meta_comment(meta)
        readme = next((p for p in sorted(proposal.files) if p.endswith("README.md")), None)
        where = f"`{readme}` on branch `{proposal.branch}`" if readme else "the branch"
        visible = fit_body(proposal.body, full_text_at=where, reserve=size(hidden) + 2)
        return f"{visible.rstrip()}\n\n{hidden}\n"

    def _base(self) -> str:
        if self._base_sha is None:
            base = self.settings.base_branch
            self._base_sha = self._read(
                f"reading branch {base}",
                lambda: self.repo.get_git_ref(f"heads/{base}").object.sha,
            )
        return self._base_sha

    def _branch(self, branch: str) -> GitRef | None:
        with self._calling(f"reading branch {branch}"):
            try:
                ref = self.repo.get_git_ref(f"heads/{branch}")
                ref.object  # noqa: B018  (completes the object when PyGithub runs lazily)
            except UnknownObjectException:
                return None
            return ref

    def _commit(self, proposal: Proposal) -> None:
        """One commit with all the proposal's files on its branch (created if needed)."""
        self._commit_files(
            proposal.branch,
            proposal.tree_files,
            f"{proposal.title}\n\nreclaim finding {proposal.finding_id}",
            proposal.finding_id,
        )

    def _commit_files(self, branch: str, files: dict[str, str], message: str, what: str) -> bool:
        """One commit of ``files`` on ``branch`` (created from the base if needed); False
        when the branch already holds exactly them."""
        ref = self._branch(branch)
        parent_sha = ref.object.sha if ref is not None else self._base()
        parent: GitCommit = self._read(
            f"reading commit {parent_sha[:12]}", lambda: self.repo.get_git_commit(parent_sha)
        )
        entries = [
            InputGitTreeElement(path, "100644", "blob", content=content)
            for path, content in sorted(files.items())
        ]
        tree = self._write(
            f"writing the tree for {what}",
            lambda: self.repo.create_git_tree(entries, base_tree=parent.tree),
        )
        if ref is not None and tree.sha == parent.tree.sha:
            return False
        commit = self._write(
            f"committing {what}", lambda: self.repo.create_git_commit(message, tree, [parent])
        )
        if ref is None:
            self._write(
                f"creating branch {branch}",
                lambda: self.repo.create_git_ref(f"refs/heads/{branch}", commit.sha),
            )
        else:
            # Not forced: a branch someone else moved is an error, never overwritten.
            self._write(f"updating branch {branch}", lambda: ref.edit(commit.sha, force=False))
        return True

    def open_follow_up(self, follow_up: FollowUp) -> ProposalResult:
        def open_one() -> PullRequest | None:
            for pull in self.repo.get_pulls(state="open", base=self.settings.base_branch):
                if pull.head.ref == follow_up.branch and self._same_repo(pull):
                    return pull
            return None

        held = self._read("listing pull requests", open_one)
        changed = self._commit_files(
            follow_up.branch,
            follow_up.files,
            f"{follow_up.title}\n\nreclaim follow-up of {follow_up.finding_id}",
            f"the follow-up of {follow_up.finding_id}",
        )
        body = fit_body(follow_up.body, full_text_at="the rollback workflow run's log")
        if held is not None:
            if not changed and held.body == body and held.title == follow_up.title:
                return ProposalResult(follow_up.finding_id, Outcome.UNCHANGED, held.html_url)
            self._write(
                f"updating {held.html_url}",
                lambda: held.edit(title=follow_up.title, body=body),
            )
            return ProposalResult(follow_up.finding_id, Outcome.UPDATED, held.html_url)
        pull = self._open_pull(
            f"the follow-up pull request for {follow_up.finding_id}",
            follow_up.branch,
            follow_up.title,
            body,
            follow_up.labels,
        )
        return ProposalResult(follow_up.finding_id, Outcome.CREATED, pull.html_url)

    def _open_pull(
        self, what: str, branch: str, title: str, body: str, labels: Sequence[str]
    ) -> PullRequest:
        """Open ``branch`` as a pull request on the base branch, labelled, reviewers asked."""
        pull = self._write(
            f"opening {what}",
            lambda: self.repo.create_pull(
                base=self.settings.base_branch,
                head=branch,
                title=title,
                body=body,
                maintainer_can_modify=True,
            ),
        )
        if labels:
            self._add_labels(pull, labels)
        self._request_reviews(pull)
        return pull

    def _sync_labels(self, pull: PullRequest, wanted: Sequence[str]) -> None:
        current = {label.name for label in pull.labels}
        derived = {
            name for name in current if name.startswith(_DERIVED_PREFIXES) or name == "reclaim"
        } - _STATE_LABELS
        missing = [name for name in wanted if name not in current]
        if missing:
            self._add_labels(pull, missing)
        for name in sorted(derived - set(wanted)):
            self._write(
                f"removing label {name} from {pull.html_url}",
                lambda name=name: pull.remove_from_labels(name),  # type: ignore[misc]
            )

    def _add_labels(self, pull: PullRequest, names: Sequence[str]) -> None:
        # PyGithub's add_to_labels sends a bare JSON array; GitHub's API description only
        # documents {"labels": [...]}, so send that.
        self._write(
            f"labelling {pull.html_url}",
            lambda: self.client.requester.requestJsonAndCheck(
                "POST", f"{pull.issue_url}/labels", input={"labels": list(names)}
            ),
        )

    def _request_reviews(self, pull: PullRequest) -> None:
        if not self.settings.reviewers:
            return
        users = [r.lstrip("@") for r in self.settings.reviewers if "/" not in r]
        teams = [r.split("/", 1)[1] for r in self.settings.reviewers if "/" in r]
        self._write(
            f"requesting reviews on {pull.html_url}",
            lambda: pull.create_review_request(reviewers=users, team_reviewers=teams),
        )

    # ---- closing, comments, dashboard ---------------------------------------------------

    def close(self, existing: ExistingProposal, reason: str) -> ProposalResult:
        pull = self._load_pulls()[existing.finding_id]
        text = (
            f"{kind_marker('closed')}\n**Closed by reclaim.** {reason}\n\n"
            "Nothing was changed in AWS. If the resource becomes idle again, reclaim proposes "
            "it again."
        )
        self._upsert_comment(pull, "closed", text)
        meta = read_meta(pull.body) or ProposalMeta(finding_id=existing.finding_id)
        closed = meta.model_copy(update={"closed_reason": reason})
        body = f"{strip_meta(pull.body or '')}\n\n{meta_comment(closed)}\n"
        self._write(f"closing {pull.html_url}", lambda: pull.edit(state="closed", body=body))
        return ProposalResult(existing.finding_id, Outcome.CLOSED, pull.html_url, note=reason)

    def _upsert_comment(self, pull: PullRequest, kind: str, text: str) -> str:
        text = fit_body(text, full_text_at="the workflow run's log")
        comments = self._read(
            f"reading comments of {pull.html_url}", lambda: list(pull.get_issue_comments())
        )
        for comment in comments:
            if has_marker(comment.body, kind):
                if comment.body != text:
                    self._write(
                        f"updating the {kind} comment on {pull.html_url}",
                        lambda comment=comment: comment.edit(text),  # type: ignore[misc]
                    )
                return comment.html_url
        created = self._write(
            f"commenting on {pull.html_url}", lambda: pull.create_issue_comment(text)
        )
        return created.html_url

    def publish_dashboard(self, markdown: str) -> str | None:
        body = fit_body(markdown, full_text_at="the output of `reclaim propose`")
        issues = self._read(
            "finding the dashboard issue",
            lambda: [
                issue
                for issue in self.repo.get_issues(state="all", labels=[DASHBOARD_LABEL])
                if has_marker(issue.body, DASHBOARD_KIND)
            ],
        )
        if not issues:
            created = self._write(
                "creating the dashboard issue",
                lambda: self.repo.create_issue(
                    title=DASHBOARD_TITLE, body=body, labels=[DASHBOARD_LABEL]
                ),
            )
            return created.html_url
        issue = min(issues, key=lambda i: i.number)
        if not same_dashboard(issue.body, body):
            self._write(f"updating the dashboard {issue.html_url}", lambda: issue.edit(body=body))
        return issue.html_url

    def comment_result(self, finding_id: str, commit_sha: str, result: ResultComment) -> str:
        pull = self._merged_pull(finding_id, commit_sha)
        return self._post_result(pull, result)

    def comment_follow_up(self, finding_id: str, commit_sha: str, kind: str, text: str) -> str:
        """A comment of its own ``kind`` on the PR merged as ``commit_sha`` (a re-stop after
        AWS started a stopped database again), upserted so a re-run does not repeat it."""
        pull = self._merged_pull(finding_id, commit_sha)
        return self._upsert_comment(pull, kind, f"{kind_marker(kind)}\n{text}")

    def comment_result_on(self, number: int, finding_id: str, result: ResultComment) -> str:
        pull = self._read(f"reading pull request #{number}", lambda: self.repo.get_pull(number))
        head = self._read(f"reading pull request #{number}", lambda: pull.head.ref)
        if head != branch_for(finding_id):
            raise ForgeError(
                f"pull request #{number} is from {head!r}, not from {branch_for(finding_id)!r}",
                hint="pass the number of the PR that proposed this remediation folder",
            )
        return self._post_result(pull, result)

    def _post_result(self, pull: PullRequest, result: ResultComment) -> str:
        url = self._upsert_comment(pull, "result", f"{kind_marker('result')}\n{result.markdown}")
        current = {label.name for label in pull.labels}
        add, remove = _result_labels(result.state)
        missing = [name for name in add if name not in current]
        if missing:
            self._add_labels(pull, missing)
        for name in sorted(remove & current):
            self._write(
                f"removing label {name} from {pull.html_url}",
                lambda name=name: pull.remove_from_labels(name),  # type: ignore[misc]
            )
        return url

    def _merged_pull(self, finding_id: str, commit_sha: str) -> PullRequest:
        branch = branch_for(finding_id)

        def associated() -> list[PullRequest]:
            # repos/list-pull-requests-associated-with-commit, without first fetching the
            # commit itself (Repository.get_commit is eager).
            pulls = PaginatedList(
                PullRequest,
                self.client.requester,
                f"{self.repo.url}/commits/{commit_sha}/pulls",
                None,
            )
            return [
                pull
                for pull in pulls
                if pull.head.ref == branch and pull.base.ref == self.settings.base_branch
            ]

        pulls = self._read(f"finding the pull request merged as {commit_sha[:12]}", associated)
        if not pulls:
            raise ForgeError(
                f"no pull request from {branch} is associated with commit {commit_sha}",
                hint="pass the merge commit of the reclaim PR (github.sha in the push "
                "workflow), or --pr with its number",
            )
        return pulls[0]


def _result_labels(state: RunState) -> tuple[list[str], set[str]]:
    if state is RunState.APPLIED:
        return [APPLIED_LABEL], {FAILED_LABEL, ROLLED_BACK_LABEL}
    if state is RunState.ROLLED_BACK:
        return [ROLLED_BACK_LABEL], {APPLIED_LABEL, FAILED_LABEL}
    return [FAILED_LABEL], set()


def _current(pulls: list[PullRequest]) -> PullRequest:
    """The proposal that speaks for a finding: an open one, else a merged one, else the
    most recently created (the listing is newest first)."""
    for pull in pulls:
        if pull.state == "open":
            return pull
    for pull in pulls:
        if pull.merged_at is not None:
            return pull
    return pulls[0]


def _existing(finding_id: str, pull: PullRequest) -> ExistingProposal:
    meta = read_meta(pull.body) or ProposalMeta(finding_id=finding_id)
    if pull.state == "open":
        state = ProposalState.OPEN
    elif pull.merged_at is not None:
        state = ProposalState.MERGED
    elif meta.closed_reason:
        state = ProposalState.CLOSED_BY_RECLAIM
    else:
        state = ProposalState.CLOSED_BY_HUMAN
    labels = {label.name for label in pull.labels}
    return ExistingProposal(
        finding_id=finding_id,
        state=state,
        reference=pull.html_url,
        fingerprint=meta.fingerprint,
        monthly_usd=meta.monthly_usd,
        rule=meta.rule,
        account=meta.account,
        region=meta.region,
        applied=APPLIED_LABEL in labels,
        rolled_back=ROLLED_BACK_LABEL in labels,
    )
