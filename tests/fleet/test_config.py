"""reclaim.yml: the role chain and per-account keys, with errors that name the key path."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from generator.config import load_config, parse_config
from generator.errors import ConfigError

ROLE_A = "arn:aws:iam::222222222222:role/reclaim-remediation"
ROLE_B = "arn:aws:iam::333333333333:role/reclaim-remediation"


def parse(data: dict, tmp_path: Path):
    return parse_config(data, source="reclaim.yml", base_dir=tmp_path)


def error_of(data: dict, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(data, tmp_path)
    return caught.value.message


def test_the_agreed_shape_loads_with_accounts_roles_and_regions(tmp_path: Path):
    path = tmp_path / "reclaim.yml"
    path.write_text(
        """
version: 1
service_role:
  role_arn: arn:aws:iam::111111111111:role/reclaim-service
accounts:
  - id: "222222222222"
    name: prod
    role_arn: arn:aws:iam::222222222222:role/reclaim-remediation
    external_id_env: RECLAIM_EXTERNAL_ID_PROD
    regions: [us-east-1, eu-west-1]
    owners: ["@org/team-prod"]
  - name: staging
    role_arn: arn:aws:iam::333333333333:role/reclaim-remediation
    regions: all-enabled
regions: [us-east-1]
"""
    )
    config = load_config(path)
    prod, staging = config.accounts
    assert config.service_role is not None
    assert config.service_role.role_arn.endswith(":role/reclaim-service")
    assert config.regions_for(prod) == ("us-east-1", "eu-west-1")
    assert config.regions_for(staging) == "all-enabled"
    assert staging.expected_id == "333333333333"  # taken from its role ARN
    assert prod.owners == ("@org/team-prod",)
    assert config.account_for_id("333333333333") is staging
    assert config.account_for_id("444444444444") is None


def test_an_account_without_regions_uses_the_top_level_ones(tmp_path: Path):
    config = parse({"regions": ["eu-west-1"], "accounts": [{"name": "a"}]}, tmp_path)
    assert config.regions_for(config.accounts[0]) == ("eu-west-1",)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"accounts": [{"name": "a", "regions": ["us-east-1", "moon-1"]}]},
            "accounts[0].regions: 'moon-1' is not an AWS region name",
        ),
        (
            {"accounts": [{"name": "a", "role_arn": "arn:aws:iam::2222:role/x"}]},
            "accounts[0].role_arn: should be an IAM role ARN",
        ),
        (
            {"service_role": {"role_arn": "reclaim-service"}},
            "service_role.role_arn: should be an IAM role ARN",
        ),
        (
            {"accounts": [{"name": "a", "id": "222222222222", "role_arn": ROLE_B}]},
            "accounts[0]: role_arn is in account 333333333333 but id is 222222222222",
        ),
        (
            {"accounts": [{"name": "a", "external_id_env": "X"}]},
            "accounts[0]: an ExternalId is only used with role_arn",
        ),
        (
            {
                "accounts": [
                    {"name": "a", "role_arn": ROLE_A, "external_id": "abc", "external_id_env": "X"}
                ]
            },
            "accounts[0]: set external_id or external_id_env, not both",
        ),
        (
            {"accounts": [{"name": "a", "role_arn": ROLE_A, "external_id_env": "not a name"}]},
            "accounts[0].external_id_env: should be an environment variable name",
        ),
        (
            {"accounts": [{"name": "a", "role_arn": ROLE_A}, {"name": "a", "role_arn": ROLE_B}]},
            "accounts: account name 'a' is used twice",
        ),
        (
            {"accounts": [{"name": "a", "role_arn": ROLE_A}, {"name": "b", "id": "222222222222"}]},
            "accounts: account 222222222222 is listed twice",
        ),
        (
            {"accounts": [{"name": "a"}, {"name": "b"}]},
            "accounts: more than one account has no role_arn",
        ),
        ({"accounts": [{"name": "a", "regions": "every"}]}, "accounts[0].regions"),
        (
            {"accounts": [{"name": "a", "rol_arn": ROLE_A}]},
            "accounts[0].rol_arn: is not a known key",
        ),
    ],
)
def test_invalid_chain_settings_name_the_key_path(data: dict, expected: str, tmp_path: Path):
    assert expected in error_of(data, tmp_path)


def test_an_invalid_inline_external_id_is_never_repeated_in_the_error(tmp_path: Path):
    secret = "has spaces, so invalid"
    message = error_of(
        {"accounts": [{"name": "a", "role_arn": ROLE_A, "external_id": secret}]}, tmp_path
    )
    assert "accounts[0].external_id" in message
    assert secret not in message


def test_an_inline_external_id_never_shows_in_reprs_or_dumps(tmp_path: Path):
    config = parse(
        {"accounts": [{"name": "a", "role_arn": ROLE_A, "external_id": "top-secret-42"}]},
        tmp_path,
    )
    account = config.accounts[0]
    assert "top-secret-42" not in repr(config)
    assert "top-secret-42" not in config.model_dump_json()
    assert account.external_id_value(0) == "top-secret-42"


def test_external_id_env_is_read_when_used_and_must_be_set_and_non_empty(tmp_path: Path):
    config = parse(
        {"accounts": [{"name": "prod", "role_arn": ROLE_A, "external_id_env": "EXT_PROD"}]},
        tmp_path,
    )
    account = config.accounts[0]
    assert account.external_id_value(0, {"EXT_PROD": "from-a-secret"}) == "from-a-secret"
    for environ in ({}, {"EXT_PROD": ""}):
        with pytest.raises(ConfigError) as caught:
            account.external_id_value(0, environ)
        assert "accounts[0].external_id_env" in caught.value.message
        assert "EXT_PROD is not set or empty" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        account.external_id_value(0, {"EXT_PROD": "bad value!"})
    assert "bad value!" not in caught.value.message


def test_home_region_follows_the_first_listed_region_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    assert parse({"regions": ["eu-west-1", "us-east-1"]}, tmp_path).home_region == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert parse({"regions": "all-enabled"}, tmp_path).home_region == "eu-central-1"


def test_a_dump_of_the_config_keeps_every_rules_settings(tmp_path: Path):
    """The rules section is a model built for the file's entries: dumped as a bare BaseModel
    it came out empty (with a serializer warning), losing every rule's settings."""
    config = parse(
        {"rules": {"ebs-unattached": {"min_unattached_days": 9}, "ec2-idle": {"enabled": False}}},
        tmp_path,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dumped = config.model_dump(mode="json", by_alias=True)
    assert dumped["rules"]["ebs-unattached"]["min_unattached_days"] == 9
    assert dumped["rules"]["ec2-idle"] == {"enabled": False}
    again = parse({"rules": dumped["rules"]}, tmp_path)
    assert again.rules == config.rules
