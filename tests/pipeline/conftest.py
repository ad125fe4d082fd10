"""A rendered pipeline for a two-account fleet, written once per module into a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.pipeline.render import (
    CODEOWNERS_PATH,
    render_codeowners_block,
    render_terraform,
    render_workflows,
)
from generator.pipeline.spec import Fleet, PipelineOptions, TargetAccount
from generator.rules import RULES
from tests.github_standin.server import GitHubStandIn

# Any commit: the workflow harness maps the action onto this checkout.
ACTION = "reclaim-dev/reclaim@" + "5" * 40

PROD = TargetAccount(
    id="222222222222",
    name="prod",
    role_arn="arn:aws:iam::222222222222:role/reclaim-remediation",
    scan_role_arn="arn:aws:iam::222222222222:role/reclaim-scan",
    external_id_env="RECLAIM_EXTERNAL_ID_PROD",
    regions=("us-east-1", "eu-west-1"),
    owners=("@acme/prod-oncall",),
)
DEV = TargetAccount(
    id="333333333333",
    name="dev",
    role_arn="arn:aws:iam::333333333333:role/reclaim-remediation",
    scan_role_arn=None,  # reclaim.yml names none: the default name in that account
    external_id_env="RECLAIM_EXTERNAL_ID_DEV",
    regions=("us-east-1",),
    owners=(),
)


@pytest.fixture(scope="module")
def options() -> PipelineOptions:
    return PipelineOptions(
        repository="acme/cost",
        service_account_id="111111111111",
        scan_shards=3,
        action=ACTION,
    )


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(
        accounts=(PROD, DEV),
        regions=("us-east-1",),
        enabled_rules=tuple(sorted(RULES)),  # every rule: the widest policy
        skip_tag="reclaim:skip",
        remediations_dir="remediations",
    )


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory, options: PipelineOptions, fleet: Fleet
) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    files = {
        **render_workflows(options, fleet),
        **render_terraform(options, fleet, create_oidc_provider=True),
    }
    block = render_codeowners_block(options, fleet)
    assert block is not None
    files[CODEOWNERS_PATH] = block
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[GitHubStandIn]:
    server = GitHubStandIn(tmp_path / "github", collaborators=("alice", "mia", "rob")).start()
    server.roles.update({"mia": "maintain", "rob": "read"})
    try:
        yield server
    finally:
        server.stop()
    if server.violations:
        pytest.fail(
            "exchanges that break GitHub's API description:\n" + "\n".join(server.violations)
        )
