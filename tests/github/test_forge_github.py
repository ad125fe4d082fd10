"""The GitHub forge against the stand-in: what a reviewer sees across runs, and GitHub's limits.

Every exchange in these tests is also checked against GitHub's API description by the
`standin` fixture, which fails the test on any mismatch.
"""

from __future__ import annotations

import itertools

import pytest

from generator.errors import ForgeError
from generator.findings import ScanError, SkippedResource
from generator.forge.base import Outcome, ProposalResult, RateLimitReached, branch_for
from generator.forge.body import GITHUB_BODY_LIMIT
from generator.forge.markers import read_meta
from generator.forge.sync import Limits
from generator.propose import sync_proposals
from tests.github.conftest import ForgeFactory
from tests.github.helpers import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGION,
    RULE,
    FakeTime,
    after_scan_1,
    finding,
    report,
)
from tests.github_standin.server import GitHubStandIn

FOLDER = "remediations"


def outcomes(results: list[ProposalResult]) -> dict[str, Outcome]:
    return {r.finding_id: r.outcome for r in results}


def pr_for(standin: GitHubStandIn, finding_id: str, state: str | None = None) -> int:
    pulls = [p for p in standin.pull_by_head(branch_for(finding_id)) if state in (None, p.state)]
    assert pulls, f"no PR for {finding_id}"
    return max(p.number for p in pulls)


def write_paths(standin: GitHubStandIn, mark: int = 0) -> list[str]:
    return [f"{e.method} {e.path}" for e in standin.since(mark) if e.method != "GET"]


# ---- first run ----------------------------------------------------------------------------


def test_first_run_opens_one_single_commit_pr_per_finding_with_labels_and_reviewers(
    standin: GitHubStandIn, make_forge: ForgeFactory, fake_time: FakeTime
):
    small, big = finding(1, size_gib=50), finding(2, size_gib=1000)
    forge = make_forge(reviewers=("alice", "@acme/platform"))

    outcome = sync_proposals(report(small, big), forge, FOLDER)

    assert outcome.stopped is None
    assert outcomes(outcome.results) == {small.id: Outcome.CREATED, big.id: Outcome.CREATED}
    for item in (small, big):
        branch = branch_for(item.id)
        number = pr_for(standin, item.id)
        pull = standin.pulls[number]
        assert standin.commits_on(branch) == 1
        for name in ("plan.json", "rollback.json", "README.md"):
            assert standin.branch_file(branch, f"{FOLDER}/{item.id}/{name}")
        assert pull.labels[:3] == ["reclaim", f"reclaim:{RULE}", "risk:low"]
        assert pull.reviewers == ["alice"] and pull.teams == ["platform"]
        meta = read_meta(pull.body)
        assert meta is not None and meta.finding_id == item.id and meta.account == ACCOUNT
        assert f"${item.cost.monthly_usd:,.2f}/month" in pull.title
    assert standin.pulls[pr_for(standin, big.id)].labels[3] == "savings:$10-100"
    # highest savings first
    assert pr_for(standin, big.id) < pr_for(standin, small.id)
    # the Git Data API, not a call per file: tree, commit, ref, PR, labels, reviewers
    per_pr = [
        "POST /repos/acme/infra/git/trees",
        "POST /repos/acme/infra/git/commits",
        "POST /repos/acme/infra/git/refs",
        "POST /repos/acme/infra/pulls",
    ]
    writes = write_paths(standin)
    assert writes[:4] == per_pr and writes[6:10] == per_pr
    assert not any("/git/blobs" in w for w in writes)
    assert writes[-1] == "POST /repos/acme/infra/issues"  # the dashboard
    # writes at least a second apart, and nobody actually slept
    times = [e.at for e in standin.writes()]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))
    assert len(fake_time.sleeps) == len(times) - 1


# ---- second run ---------------------------------------------------------------------------


def test_second_run_without_material_change_makes_no_write_at_all(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    findings = [finding(1), finding(2, size_gib=300)]
    sync_proposals(report(*findings), make_forge(), FOLDER)
    mark = standin.mark()

    # A week later: new scan time, idle-day counts and titles differ, nothing material does.
    rescanned = [finding(1, as_of=after_scan_1(7)), finding(2, size_gib=300, as_of=after_scan_1(7))]
    outcome = sync_proposals(report(*rescanned, as_of=after_scan_1(7)), make_forge(), FOLDER)

    assert set(outcomes(outcome.results).values()) == {Outcome.UNCHANGED}
    assert write_paths(standin, mark) == []
    assert {e.method for e in standin.since(mark)} == {"GET"}


def test_changed_finding_updates_the_same_pr_in_place(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    before = finding(1, size_gib=100)
    sync_proposals(report(before), make_forge(), FOLDER)
    number = pr_for(standin, before.id)

    grown = finding(1, size_gib=2000, as_of=after_scan_1(1))  # resized: a different plan and price
    outcome = sync_proposals(report(grown, as_of=after_scan_1(1)), make_forge(), FOLDER)

    assert outcomes(outcome.results) == {grown.id: Outcome.UPDATED}
    assert [p.number for p in standin.pull_by_head(branch_for(grown.id))] == [number]
    pull = standin.pulls[number]
    assert f"${grown.cost.monthly_usd:,.2f}/month" in pull.title
    assert "2000 GiB" in (pull.body or "")
    assert standin.commits_on(branch_for(grown.id)) == 2  # same branch, one new commit
    plan = standin.branch_file(branch_for(grown.id), f"{FOLDER}/{grown.id}/plan.json")
    assert plan is not None and '"size_gib": 2000' in plan
    assert "savings:$100-1k" in pull.labels and "savings:<$10" not in pull.labels
    assert "savings:$10-100" not in pull.labels


# ---- stale findings -----------------------------------------------------------------------


def test_stale_finding_is_closed_with_a_comment_saying_why(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    gone, tagged, kept = finding(1), finding(2), finding(3)
    sync_proposals(report(gone, tagged, kept), make_forge(), FOLDER)
    skip = SkippedResource(
        account=ACCOUNT,
        region=REGION,
        rule=RULE,
        resource_id=tagged.resource_id,
        reason="tagged reclaim:skip",
    )

    outcome = sync_proposals(
        report(finding(3, as_of=after_scan_1(1)), as_of=after_scan_1(1), skipped=(skip,)),
        make_forge(),
        FOLDER,
    )

    assert outcomes(outcome.results) == {
        gone.id: Outcome.CLOSED,
        tagged.id: Outcome.CLOSED,
        kept.id: Outcome.UNCHANGED,
    }
    for item, why in ((gone, "in use again or was deleted"), (tagged, "tagged reclaim:skip")):
        pull = standin.pulls[pr_for(standin, item.id)]
        assert pull.state == "closed" and pull.merged_at is None
        (comment,) = standin.comments_on(pull.number)
        assert why in comment.body and "Closed by reclaim" in comment.body
        meta = read_meta(pull.body)
        assert meta is not None and meta.closed_reason and why in meta.closed_reason

    # When the resource is idle again, a new proposal is opened (reclaim closed it, not a human).
    again = sync_proposals(report(gone, finding(3)), make_forge(), FOLDER)
    assert outcomes(again.results)[gone.id] is Outcome.CREATED


def test_open_pr_is_left_alone_when_its_unit_was_not_scanned(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    mine, theirs = finding(1), finding(2, account=OTHER_ACCOUNT)
    sync_proposals(report(mine, theirs, accounts=(ACCOUNT, OTHER_ACCOUNT)), make_forge(), FOLDER)
    mark = standin.mark()
    failed = ScanError(account=OTHER_ACCOUNT, region=REGION, rule=RULE, message="AccessDenied")

    outcome = sync_proposals(
        report(mine, accounts=(ACCOUNT, OTHER_ACCOUNT), errors=(failed,)), make_forge(), FOLDER
    )

    assert outcomes(outcome.results) == {mine.id: Outcome.UNCHANGED}
    assert standin.pulls[pr_for(standin, theirs.id)].state == "open"
    assert not any("/pulls/" in w for w in write_paths(standin, mark))
    dashboard = standin.issues[max(standin.issues)].body or ""
    assert "not rescanned" in dashboard and "AccessDenied" in dashboard


# ---- a human's "no" -----------------------------------------------------------------------


def test_human_closed_pr_is_remembered_and_reproposed_only_when_cost_grows_enough(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    item = finding(1, size_gib=100)
    sync_proposals(report(item), make_forge(), FOLDER)
    first = pr_for(standin, item.id)
    standin.human_close(first)

    # Same finding, and a 1.5x cost increase: still declined, nothing written to PRs.
    for size in (100, 150):
        mark = standin.mark()
        outcome = sync_proposals(report(finding(1, size_gib=size)), make_forge(), FOLDER)
        assert outcomes(outcome.results) == {item.id: Outcome.DECLINED}
        assert not any("/pulls" in w or "/git/" in w for w in write_paths(standin, mark))
    assert [p.number for p in standin.pull_by_head(branch_for(item.id))] == [first]

    doubled = finding(1, size_gib=200)
    outcome = sync_proposals(report(doubled), make_forge(), FOLDER)

    assert outcomes(outcome.results) == {item.id: Outcome.REPROPOSED}
    second = pr_for(standin, item.id, "open")
    assert second != first and standin.pulls[first].state == "closed"
    body = standin.pulls[second].body or ""
    assert "Proposed again" in body and f"/pull/{first}" in body


# ---- limits -------------------------------------------------------------------------------


def test_limits_open_highest_savings_first_and_list_the_rest_on_the_dashboard(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    findings = [finding(n, size_gib=100 * n) for n in range(1, 9)]  # 8 findings
    limits = Limits(max_open=6, max_new_per_run=5)

    first = sync_proposals(report(*findings), make_forge(), FOLDER, limits=limits)

    created = {k for k, v in outcomes(first.results).items() if v is Outcome.CREATED}
    assert created == {f.id for f in findings[3:]}  # the five most expensive
    dashboard_issue = max(standin.issues)
    dashboard = standin.issues[dashboard_issue].body or ""
    waiting_part = dashboard.split("## Pending")[1].split("##")[0]
    assert all(f.id in waiting_part for f in findings[:3])
    assert "(3)" in waiting_part.splitlines()[0]

    second = sync_proposals(report(*findings), make_forge(), FOLDER, limits=limits)

    assert [k for k, v in outcomes(second.results).items() if v is Outcome.CREATED] == [
        findings[2].id
    ]  # one slot left under max_open=6
    assert len([p for p in standin.pulls.values() if p.state == "open"]) == 6
    assert max(standin.issues) == dashboard_issue  # same dashboard issue, updated


# ---- GitHub's limits ----------------------------------------------------------------------


def test_a_body_over_65536_characters_is_folded_and_cut_but_the_file_is_whole(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    huge = finding(1, evidence_text="x" * 90_000)

    outcome = sync_proposals(report(huge), make_forge(), FOLDER)

    assert outcomes(outcome.results) == {huge.id: Outcome.CREATED}
    body = standin.pulls[pr_for(standin, huge.id)].body or ""
    assert len(body) <= GITHUB_BODY_LIMIT
    assert "<details>" in body and "Cut:" in body and "README.md" in body
    assert body.startswith("<!-- reclaim:finding")  # the top of the body is kept whole
    meta = read_meta(body)
    assert meta is not None and meta.finding_id == huge.id
    readme = standin.branch_file(branch_for(huge.id), f"{FOLDER}/{huge.id}/README.md")
    assert readme is not None and "x" * 90_000 in readme


def test_the_standin_refuses_long_bodies_like_github(standin: GitHubStandIn):
    import requests

    response = requests.post(
        f"{standin.api_url}/repos/acme/infra/issues",
        json={"title": "t", "body": "y" * (GITHUB_BODY_LIMIT + 1)},
        headers={"Authorization": "token test-token"},
        timeout=10,
    )
    assert response.status_code == 422
    assert "body is too long" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "You have exceeded a secondary rate limit. Please wait a few minutes."),
        (429, "Too many requests"),
    ],
)
def test_secondary_rate_limit_is_retried_after_the_retry_after_delay(
    standin: GitHubStandIn,
    make_forge: ForgeFactory,
    fake_time: FakeTime,
    status: int,
    message: str,
):
    standin.fail_next(
        "POST",
        r"/pulls$",
        status,
        body={"message": message, "documentation_url": "https://docs.github.com/rest"},
        headers={"Retry-After": "7"},
    )
    item = finding(1)

    outcome = sync_proposals(report(item), make_forge(), FOLDER)

    assert outcome.stopped is None
    assert outcomes(outcome.results) == {item.id: Outcome.CREATED}
    assert 7 in fake_time.sleeps
    pulls = [e.status for e in standin.log if e.method == "POST" and e.path.endswith("/pulls")]
    assert pulls == [status, 201]
    assert len(standin.pulls) == 1


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "3600", "X-RateLimit-Remaining": "0"}, "3600"),  # secondary, long
        ({"X-RateLimit-Remaining": "0"}, "s)"),  # primary: reset in an hour (X-RateLimit-Reset)
    ],
)
def test_exhausted_rate_limit_stops_cleanly_names_what_remains_and_resumes(
    standin: GitHubStandIn, make_forge: ForgeFactory, headers: dict[str, str], wait: str
):
    first, second = finding(1, size_gib=900), finding(2, size_gib=100)
    standin.fail_next(
        "POST",
        r"/pulls$",
        403,
        body={
            "message": "API rate limit exceeded for installation ID 1.",
            "documentation_url": "https://docs.github.com/rest/rate-limit",
        },
        headers=headers,
    )

    outcome = sync_proposals(report(first, second), make_forge(), FOLDER)

    assert isinstance(outcome.stopped, RateLimitReached)
    assert "rate limit" in outcome.stopped.message and wait in outcome.stopped.message
    assert outcome.remaining[0].startswith(f"open {first.id}")
    assert outcome.remaining[1].startswith(f"open {second.id}")
    assert outcome.remaining[-1] == "update the dashboard"
    assert standin.pulls == {}  # the branch was pushed, no PR yet

    resumed = sync_proposals(report(first, second), make_forge(), FOLDER)

    assert outcomes(resumed.results) == {first.id: Outcome.CREATED, second.id: Outcome.CREATED}
    assert standin.commits_on(branch_for(first.id)) == 1  # resumed, not committed twice


def test_a_422_is_surfaced_as_a_clear_error(standin: GitHubStandIn, make_forge: ForgeFactory):
    item = finding(1)

    outcome = sync_proposals(report(item), make_forge(reviewers=("mallory",)), FOLDER)

    error = outcome.stopped
    assert isinstance(error, ForgeError) and not isinstance(error, RateLimitReached)
    assert "422" in error.message and "requesting reviews" in error.message
    assert "may only be requested from collaborators" in error.message
    assert error.hint and "refused" in error.hint
    # The PR was opened before GitHub refused the reviewers: the action is named as unfinished.
    assert outcome.remaining == [f"open {item.id} ($8.00/month)", "update the dashboard"]
    assert len(standin.pulls) == 1


def test_pagination_over_more_than_100_pull_requests(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    items = [finding(n) for n in range(1, 4)]
    sync_proposals(report(*items), make_forge(), FOLDER)
    for n in range(150):  # newer, unrelated PRs push reclaim's onto the second page
        standin.seed_pull(f"feature/{n}", title=f"feature {n}", body="unrelated")
    mark = standin.mark()

    outcome = sync_proposals(report(*items), make_forge(), FOLDER)

    assert set(outcomes(outcome.results).values()) == {Outcome.UNCHANGED}
    pages = [e for e in standin.since(mark) if e.path.endswith("/pulls")]
    assert len(pages) == 2
    assert write_paths(standin, mark) == []


# ---- dashboard ----------------------------------------------------------------------------


def test_dashboard_is_created_once_then_updated_in_place(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    one = finding(1, size_gib=100)
    first = sync_proposals(report(one), make_forge(), FOLDER)
    (number,) = standin.issues
    issue = standin.issues[number]
    assert first.dashboard and first.dashboard.endswith(f"/issues/{number}")
    assert "reclaim:dashboard" in issue.labels
    assert issue.body and issue.body.startswith("<!-- reclaim:dashboard -->")
    assert "```mermaid\npie" in issue.body and f'"{RULE}" : 8.00' in issue.body

    report_only = finding(9, size_gib=10, reversibility="report-only")
    second = sync_proposals(
        report(one, finding(2, size_gib=400), report_only), make_forge(), FOLDER
    )

    assert list(standin.issues) == [number]
    body = standin.issues[number].body or ""
    assert second.dashboard == first.dashboard
    assert "| `123456789012` | `ebs-unattached` | 3 |" in body
    assert "Report-only findings (1)" in body and report_only.id in body
    patches = [e for e in standin.log if e.method == "PATCH" and e.path.endswith(f"/{number}")]
    assert len(patches) == 1
