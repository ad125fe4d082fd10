"""Complete GitHub response bodies, shaped as the API description requires."""

from __future__ import annotations

import base64
from typing import Any

Json = dict[str, Any]


def _node(kind: str, number: int) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


class Urls:
    def __init__(self, api: str, web: str, owner: str, name: str) -> None:
        self.api, self.web, self.owner, self.name = api, web, owner, name
        self.full = f"{owner}/{name}"
        self.repo = f"{api}/repos/{self.full}"
        self.repo_web = f"{web}/{self.full}"


def user(urls: Urls, login: str, uid: int, kind: str = "User") -> Json:
    base = f"{urls.api}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": _node("User", uid),
        "avatar_url": f"{urls.web}/avatars/{login}",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{urls.web}/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": kind,
        "site_admin": False,
        "user_view_type": "public",
    }


_REPO_URL_SUFFIXES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository(urls: Urls, owner: Json, default_branch: str, *, full: bool = False) -> Json:
    body: Json = {
        "id": 4242,
        "node_id": _node("Repository", 4242),
        "name": urls.name,
        "full_name": urls.full,
        "owner": owner,
        "private": True,
        "html_url": urls.repo_web,
        "description": "infrastructure, with reclaim",
        "fork": False,
        "url": urls.repo,
        **{key: urls.repo + suffix for key, suffix in _REPO_URL_SUFFIXES.items()},
        "clone_url": f"{urls.repo_web}.git",
        "git_url": f"git://standin/{urls.full}.git",
        "ssh_url": f"git@standin:{urls.full}.git",
        "svn_url": urls.repo_web,
        "mirror_url": None,
        "homepage": None,
        "language": "Python",
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "size": 1,
        "default_branch": default_branch,
        "open_issues": 0,
        "open_issues_count": 0,
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "private",
        "pushed_at": "2026-01-01T00:00:00Z",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "license": None,
        "allow_forking": False,
        "web_commit_signoff_required": False,
        "permissions": {
            "admin": False,
            "maintain": False,
            "push": True,
            "triage": True,
            "pull": True,
        },
    }
    if full:
        body.update({"network_count": 0, "subscribers_count": 1})
    return body


def label(urls: Urls, name: str, lid: int) -> Json:
    return {
        "id": lid,
        "node_id": _node("Label", lid),
        "url": f"{urls.repo}/labels/{name}",
        "name": name,
        "description": "",
        "color": "ededed",
        "default": False,
    }


def _link(href: str) -> Json:
    return {"href": href}


def pull(
    urls: Urls,
    *,
    number: int,
    title: str,
    body: str | None,
    state: str,
    author: Json,
    head_ref: str,
    head_sha: str,
    base_ref: str,
    base_sha: str,
    repo: Json,
    labels: list[Json],
    created_at: str,
    updated_at: str,
    closed_at: str | None,
    merged_at: str | None,
    merge_commit_sha: str | None,
    reviewers: list[Json],
    detailed: dict[str, Any] | None = None,
) -> Json:
    url = f"{urls.repo}/pulls/{number}"
    issue_url = f"{urls.repo}/issues/{number}"
    html = f"{urls.repo_web}/pull/{number}"
    owner_login = urls.owner
    body_json: Json = {
        "url": url,
        "id": 900000 + number,
        "node_id": _node("PullRequest", number),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_url,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{urls.repo}/pulls/comments{{/number}}",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": f"{urls.repo}/statuses/{head_sha}",
        "number": number,
        "state": state,
        "locked": False,
        "title": title,
        "user": author,
        "body": body,
        "labels": labels,
        "milestone": None,
        "active_lock_reason": None,
        "created_at": created_at,
        "updated_at": updated_at,
        "closed_at": closed_at,
        "merged_at": merged_at,
        "merge_commit_sha": merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": reviewers,
        "requested_teams": [],
        "head": {
            "label": f"{owner_login}:{head_ref}",
            "ref": head_ref,
            "sha": head_sha,
            "user": repo["owner"],
            "repo": repo,
        },
        "base": {
            "label": f"{owner_login}:{base_ref}",
            "ref": base_ref,
            "sha": base_sha,
            "user": repo["owner"],
            "repo": repo,
        },
        "_links": {
            "self": _link(url),
            "html": _link(html),
            "issue": _link(issue_url),
            "comments": _link(f"{issue_url}/comments"),
            "review_comments": _link(f"{url}/comments"),
            "review_comment": _link(f"{urls.repo}/pulls/comments{{/number}}"),
            "commits": _link(f"{url}/commits"),
            "statuses": _link(f"{urls.repo}/statuses/{head_sha}"),
        },
        "author_association": "NONE",
        "auto_merge": None,
        "draft": False,
    }
    if detailed is not None:
        body_json.update(detailed)
    return body_json


def issue(
    urls: Urls,
    *,
    number: int,
    title: str,
    body: str | None,
    state: str,
    author: Json,
    labels: list[Json],
    comments: int,
    created_at: str,
    updated_at: str,
    closed_at: str | None,
    is_pull: bool,
) -> Json:
    url = f"{urls.repo}/issues/{number}"
    data: Json = {
        "id": 800000 + number,
        "node_id": _node("Issue", number),
        "url": url,
        "repository_url": urls.repo,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{urls.repo_web}/{'pull' if is_pull else 'issues'}/{number}",
        "number": number,
        "state": state,
        "title": title,
        "body": body,
        "user": author,
        "labels": labels,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": comments,
        "closed_at": closed_at,
        "created_at": created_at,
        "updated_at": updated_at,
        "author_association": "NONE",
    }
    if state == "closed":
        data["state_reason"] = "completed"
    if is_pull:
        pr_url = f"{urls.repo}/pulls/{number}"
        html = f"{urls.repo_web}/pull/{number}"
        data["pull_request"] = {
            "url": pr_url,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": None,
        }
    return data


def comment(
    urls: Urls, *, cid: int, issue_number: int, body: str, author: Json, created: str, updated: str
) -> Json:
    return {
        "id": cid,
        "node_id": _node("IssueComment", cid),
        "url": f"{urls.repo}/issues/comments/{cid}",
        "html_url": f"{urls.repo_web}/issues/{issue_number}#issuecomment-{cid}",
        "issue_url": f"{urls.repo}/issues/{issue_number}",
        "body": body,
        "user": author,
        "created_at": created,
        "updated_at": updated,
        "author_association": "NONE",
    }


def git_ref(urls: Urls, ref: str, sha: str) -> Json:
    return {
        "ref": ref,
        "node_id": _node("Ref", abs(hash(ref)) % 10**9),
        "url": f"{urls.repo}/git/{ref}",
        "object": {"type": "commit", "sha": sha, "url": f"{urls.repo}/git/commits/{sha}"},
    }


def git_commit(
    urls: Urls, *, sha: str, tree: str, parents: list[str], message: str, date: str
) -> Json:
    person = {"name": "reclaim", "email": "reclaim@users.noreply.standin", "date": date}
    return {
        "sha": sha,
        "node_id": _node("Commit", int(sha[:8], 16)),
        "url": f"{urls.repo}/git/commits/{sha}",
        "html_url": f"{urls.repo_web}/commit/{sha}",
        "author": person,
        "committer": person,
        "message": message,
        "tree": {"sha": tree, "url": f"{urls.repo}/git/trees/{tree}"},
        "parents": [
            {
                "sha": parent,
                "url": f"{urls.repo}/git/commits/{parent}",
                "html_url": f"{urls.repo_web}/commit/{parent}",
            }
            for parent in parents
        ],
        "verification": {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        },
    }


def git_tree(urls: Urls, sha: str, entries: list[tuple[str, str, str, str]]) -> Json:
    return {
        "sha": sha,
        "url": f"{urls.repo}/git/trees/{sha}",
        "truncated": False,
        "tree": [
            {
                "path": path,
                "mode": mode,
                "type": kind,
                "sha": entry_sha,
                "url": f"{urls.repo}/git/{'trees' if kind == 'tree' else 'blobs'}/{entry_sha}",
            }
            for mode, kind, entry_sha, path in entries
        ],
    }


def error(message: str, *, errors: list[Json] | None = None, status: int = 422) -> Json:
    body: Json = {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": str(status),
    }
    if errors is not None:
        body["errors"] = errors
    return body


# ---- repository settings (what `reclaim init --github-token` sets, `reclaim doctor` reads) --


def public_user(urls: Urls, login: str, uid: int) -> Json:
    return {
        **user(urls, login, uid),
        "name": login.title(),
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "public_repos": 1,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }


def team(urls: Urls, slug: str, tid: int, *, full: bool = False) -> Json:
    base = f"{urls.api}/orgs/{urls.owner}/teams/{slug}"
    body: Json = {
        "id": tid,
        "node_id": _node("Team", tid),
        "url": f"{urls.api}/teams/{tid}",
        "html_url": f"{urls.web}/orgs/{urls.owner}/teams/{slug}",
        "name": slug,
        "slug": slug,
        "description": None,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": f"{base}/members{{/member}}",
        "repositories_url": f"{base}/repos",
        "parent": None,
        "type": "organization",
    }
    if not full:
        return body
    org = f"{urls.api}/orgs/{urls.owner}"
    organization = {
        "login": urls.owner,
        "id": 900,
        "node_id": _node("Organization", 900),
        "url": org,
        "repos_url": f"{org}/repos",
        "events_url": f"{org}/events",
        "hooks_url": f"{org}/hooks",
        "issues_url": f"{org}/issues",
        "members_url": f"{org}/members{{/member}}",
        "public_members_url": f"{org}/public_members{{/member}}",
        "avatar_url": f"{urls.web}/avatars/{urls.owner}",
        "description": None,
        "html_url": f"{urls.web}/{urls.owner}",
        "has_organization_projects": True,
        "has_repository_projects": True,
        "public_repos": 1,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "type": "Organization",
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "archived_at": None,
    }
    return {
        **body,
        "members_count": 3,
        "repos_count": 1,
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "organization": organization,
    }


def environment(
    urls: Urls,
    name: str,
    eid: int,
    *,
    rules: list[Json],
    branch_policy: Json | None,
    created: str,
    updated: str,
) -> Json:
    """``rules`` are the protection rules without their IDs (numbered here, as GitHub does)."""
    return {
        "id": eid,
        "node_id": _node("Environment", eid),
        "name": name,
        "url": f"{urls.repo}/environments/{name}",
        "html_url": f"{urls.repo_web}/deployments/activity_log?environments_filter={name}",
        "created_at": created,
        "updated_at": updated,
        "protection_rules": [
            {"id": eid * 10 + i, "node_id": _node("Gate", eid * 10 + i), **rule}
            for i, rule in enumerate(rules)
        ],
        "deployment_branch_policy": branch_policy,
    }


def branch_policy(pid: int, name: str) -> Json:
    return {
        "id": pid,
        "node_id": _node("DeploymentBranchPolicy", pid),
        "name": name,
        "type": "branch",
    }


def named(name: str, at: str, **extra: str) -> Json:
    """A secret (names and dates only: values are never returned) or, with a value, a variable."""
    return {"name": name, **extra, "created_at": at, "updated_at": at}


def branch_protection(urls: Urls, branch: str, contexts: list[str]) -> Json:
    base = f"{urls.repo}/branches/{branch}/protection"
    return {
        "url": base,
        "required_status_checks": {
            "url": f"{base}/required_status_checks",
            "strict": True,
            "contexts": contexts,
            "contexts_url": f"{base}/required_status_checks/contexts",
            "checks": [{"context": c, "app_id": None} for c in contexts],
        },
        "enforce_admins": {"url": f"{base}/enforce_admins", "enabled": True},
        "required_linear_history": {"enabled": False},
        "allow_force_pushes": {"enabled": False},
        "allow_deletions": {"enabled": False},
    }


def commit_status(
    urls: Urls,
    *,
    sid: int,
    sha: str,
    state: str,
    description: str | None,
    target_url: str | None,
    context: str,
    at: str,
    creator: Json,
) -> Json:
    return {
        "url": f"{urls.repo}/statuses/{sha}",
        "avatar_url": None,
        "id": sid,
        "node_id": _node("StatusContext", sid),
        "state": state,
        "description": description,
        "target_url": target_url,
        "context": context,
        "created_at": at,
        "updated_at": at,
        "creator": creator,
    }
