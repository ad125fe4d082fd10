from __future__ import annotations

import pytest

from generator.errors import ConfigError
from generator.pipeline.flags import parse_account


def test_a_full_account_flag() -> None:
    account = parse_account(
        "id=222222222222,name=prod eu,role=cleaner,regions=us-east-1+eu-west-1,"
        "owners=@acme/prod+@alice",
        default_role_name="reclaim-remediation",
    )
    assert account.role_arn == "arn:aws:iam::222222222222:role/cleaner"
    assert account.external_id_env == "RECLAIM_EXTERNAL_ID_PROD_EU"
    assert account.regions == ("us-east-1", "eu-west-1")
    assert account.owners == ("@acme/prod", "@alice")
    assert account.slug == "prod-eu"


def test_defaults() -> None:
    account = parse_account("id=222222222222", default_role_name="reclaim-remediation")
    assert account.name == "account-222222222222"
    assert account.role_arn == "arn:aws:iam::222222222222:role/reclaim-remediation"
    assert account.regions is None and not account.all_enabled
    assert parse_account("id=222222222222,regions=all-enabled", default_role_name="r").all_enabled


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("name=prod", "id must be the 12-digit account ID"),
        ("id=2222", "id must be the 12-digit account ID"),
        ("id=222222222222,colour=blue", "'colour=blue' is not key=value"),
        ("id=222222222222,name=a,name=b", "name is given twice"),
        ("id=222222222222,role=arn:aws:iam::333333333333:role/x", "not a role in account"),
        ("id=222222222222,owners=acme", "owner 'acme' is not @user"),
    ],
)
def test_bad_flags_say_what_is_wrong(flag: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_account(flag, default_role_name="reclaim-remediation")
