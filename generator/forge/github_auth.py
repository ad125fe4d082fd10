"""Credentials for the GitHub forge, from the environment (never from reclaim.yml).

Precedence: a GitHub App installation when configured (the recommended choice for
`propose`: PRs opened with the workflow's own GITHUB_TOKEN do not trigger other workflows),
then ``RECLAIM_GITHUB_TOKEN``, then ``GITHUB_TOKEN``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from github import Auth

from generator.config import GitHubAppConfig
from generator.errors import ConfigError

TOKEN_VARIABLES = ("RECLAIM_GITHUB_TOKEN", "GITHUB_TOKEN")
APP_ID_ENV = "RECLAIM_GITHUB_APP_ID"
APP_INSTALLATION_ENV = "RECLAIM_GITHUB_APP_INSTALLATION_ID"
APP_KEY_ENV = "RECLAIM_GITHUB_APP_PRIVATE_KEY"


def _app_from_env(env: Mapping[str, str]) -> GitHubAppConfig | None:
    app_id, installation = env.get(APP_ID_ENV), env.get(APP_INSTALLATION_ENV)
    if not app_id and not installation:
        return None
    if not (app_id and installation and app_id.isdigit() and installation.isdigit()):
        raise ConfigError(
            f"{APP_ID_ENV} and {APP_INSTALLATION_ENV} must both be set, as numbers",
            hint="find them in the App's settings and in the installation's URL",
        )
    return GitHubAppConfig(app_id=int(app_id), installation_id=int(installation))


def github_auth(app: GitHubAppConfig | None, env: Mapping[str, str] | None = None) -> Auth.Auth:
    env = os.environ if env is None else env
    app = app or _app_from_env(env)
    if app is not None:
        key = env.get(app.private_key_env, "").strip()
        if not key.startswith("-----BEGIN"):
            raise ConfigError(
                f"GitHub App {app.app_id} is configured but ${app.private_key_env} does not "
                "hold a PEM private key",
                hint=f"store the App's private key in a secret and expose it as "
                f"{app.private_key_env}",
            )
        return Auth.AppInstallationAuth(Auth.AppAuth(app.app_id, key), app.installation_id)
    for name in TOKEN_VARIABLES:
        token = env.get(name, "").strip()
        if token:
            return Auth.Token(token)
    raise ConfigError(
        "no GitHub credentials: forge.type is github but neither a GitHub App nor a token "
        f"({' or '.join(TOKEN_VARIABLES)}) is set",
        hint="in a workflow, mint an App installation token (recommended: its PRs trigger "
        "the apply workflow) or pass secrets.GITHUB_TOKEN as RECLAIM_GITHUB_TOKEN",
    )
