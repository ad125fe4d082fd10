"""reclaim.yml's iac: section: roots, where their state is read, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.config import load_config
from generator.errors import ConfigError
from generator.pipeline.policy import policy_json, role_policies
from generator.rules import RULES

GOOD = """\
accounts:
  - name: prod
    id: '222222222222'
    role_arn: arn:aws:iam::222222222222:role/reclaim
  - name: tooling
    id: '333333333333'
    role_arn: arn:aws:iam::333333333333:role/reclaim
iac:
  terraform:
    - name: storage
      path: infra/storage
      state:
        local: infra/storage/terraform.tfstate
    - name: network
      path: ../network-repo/live
      repository: acme/network
      state:
        s3: {bucket: acme-tf-state, key: network/prod.tfstate, region: eu-west-1, account: tooling}
    - name: legacy
      path: infra/legacy
      state:
        show_json: infra/legacy/show.json
"""


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "reclaim.yml"
    path.write_text(text)
    return load_config(path)


def test_roots_and_their_state_sources_load(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    storage, network, legacy = config.iac.terraform
    assert storage.state.local == "infra/storage/terraform.tfstate"
    assert network.state.s3 is not None and network.state.s3.region == "eu-west-1"
    assert network.repository == "acme/network"
    assert legacy.state.show_json == "infra/legacy/show.json"
    assert config.state_reader(1).name == "tooling"
    assert config.state_reader(0).name == "prod"  # no S3: the first account
    assert config.iac.state_objects == ("arn:{partition}:s3:::acme-tf-state/network/prod.tfstate",)


def test_no_iac_section_means_nothing_is_managed_by_terraform(tmp_path: Path) -> None:
    config = load(tmp_path, "version: 1\n")
    assert config.iac.terraform == () and config.iac.cloudformation is True


@pytest.mark.parametrize(
    ("iac", "expected"),
    [
        (
            "terraform:\n  - {name: a, path: x, state: {}}\n",
            "give exactly one of local (a state file), s3 (bucket, key, region) or show_json",
        ),
        (
            "terraform:\n  - {name: a, path: x, state: {local: a.tfstate, show_json: b.json}}\n",
            "got local, show_json",
        ),
        (
            "terraform:\n  - {name: a, path: /abs, state: {local: a.tfstate}}\n",
            "must be a path relative to reclaim.yml's directory",
        ),
        (
            "terraform:\n  - {name: a, path: x, state: {s3: {bucket: b-1, key: 'k/*', region: us-east-1}}}\n",
            "the grant is on this key only",
        ),
        (
            "terraform:\n  - {name: a, path: x, state: {s3: {bucket: Bad_Bucket, key: k, region: us-east-1}}}\n",
            "iac.terraform[0].state.s3.bucket",
        ),
        (
            "terraform:\n  - {name: a, path: x, state: {s3: {bucket: bkt, key: k, region: us-east-1, account: nope}}}\n",
            "'nope' is not the name or ID of an account in accounts",
        ),
        (
            "terraform:\n  - {name: a, path: x, state: {local: s}}\n  - {name: a, path: y, state: {local: t}}\n",
            "root name 'a' is used twice",
        ),
        ("terraform:\n  - {name: a, path: x, stat: {local: s}}\n", "iac.terraform[0].stat"),
    ],
)
def test_mistakes_are_named_by_key_path(tmp_path: Path, iac: str, expected: str) -> None:
    text = "iac:\n" + "".join(f"  {line}\n" for line in iac.splitlines())
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert expected in raised.value.message
    assert "Traceback" not in raised.value.message


def test_the_read_policy_gets_exactly_the_state_object(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    policies = role_policies(
        RULES.values(), skip_tag="keep-me", state_objects=config.iac.state_objects
    )
    document = policy_json(
        policies.read, account="222222222222", regions=("us-east-1",), skip_tag="keep-me"
    )
    grants = [s for s in document["Statement"] if "s3:GetObject" in s["Action"]]
    assert grants == [
        {
            "Sid": "TerraformState",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::acme-tf-state/network/prod.tfstate",
        }
    ]  # the one key, in any region (the bucket's)
    others = [s for s in document["Statement"] if s["Sid"] != "TerraformState"]
    # s3-incomplete-multipart reads buckets' uploads and lifecycles: no statement but the
    # state's may read an object.
    reads_objects = {"s3:GetObject", "s3:Get*", "s3:*", "*"}
    for statement in others:
        actions = statement["Action"]
        assert not reads_objects & set([actions] if isinstance(actions, str) else actions)
    assert role_policies(RULES.values(), skip_tag="keep-me").read == tuple(
        s for s in policies.read if s.sid != "TerraformState"
    )


def test_the_generated_customer_role_module_grants_it(tmp_path: Path) -> None:
    from generator.pipeline.render import customer_policies
    from generator.pipeline.spec import fleet_from_config

    fleet = fleet_from_config(load(tmp_path, GOOD), repo_root=tmp_path)
    assert fleet.state_objects == load(tmp_path, GOOD).iac.state_objects
    (statement,) = [s for s in customer_policies(fleet).read if s.sid == "TerraformState"]
    assert statement.actions == ("s3:GetObject",) and not statement.regional


def test_a_scan_session_may_read_s3_state_only_when_iac_has_some(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import generator.aws.chain as chain_module
    from generator.aws.chain import RoleChain, RunIdentity
    from tests.fleet.support import fleet_config

    made: list[Any] = []
    real = chain_module.assume_role

    def recording(sts: Any, hop: Any, identity: Any) -> Any:
        made.append(hop)
        return real(sts, hop, identity)

    monkeypatch.setattr(chain_module, "assume_role", recording)
    account = {"name": "a", "role_arn": "arn:aws:iam::222222222222:role/reclaim"}
    s3 = {"bucket": "acme-tf-state", "key": "prod.tfstate", "region": "eu-west-1"}
    scan = RunIdentity(kind="scan", run="gh-1-1")
    for iac in ({}, {"terraform": [{"name": "n", "path": "x", "state": {"s3": s3}}]}):
        config = fleet_config(tmp_path, accounts=[account], iac=iac)
        RoleChain(config, scan).session_for(config.accounts[0])
    without, with_state = (json.loads(h.session_policy)["Statement"][0]["Action"] for h in made)
    assert "s3:GetObject" not in without
    assert set(with_state) - set(without) == {"s3:GetObject"}
