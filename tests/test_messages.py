"""Messages a person reads when something is wrong: in words, with the exit code --help gives."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from generator.aws.price_list import refresh_price_table
from generator.aws.prices import bundled_prices
from generator.cli import main
from generator.errors import AwsCallFailed, CredentialsError, ExitCode


def _scan_with(tmp_path: Path, text: str) -> tuple[int, str]:
    (tmp_path / "reclaim.yml").write_text(text)
    result = CliRunner().invoke(main, ["scan", "--config", str(tmp_path / "reclaim.yml")])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "regions: us-east-1\n",
            "regions: should be a list, e.g. [a, b] or 'all-enabled' (got 'us-east-1')",
        ),
        ("regoins: [us-east-1]\n", "regoins: is not a known key; did you mean 'regions'?"),
        (
            "rules:\n  ebs-unattached:\n    min_unatached_days: 3\n",
            "rules.ebs-unattached.min_unatached_days: is not a known key; did you mean 'min_unattached_days'?",
        ),
        (
            "rules:\n  ebs-unatached: {}\n",
            "rules.ebs-unatached: is not a known rule; did you mean 'ebs-unattached'?",
        ),
        (
            "accounts:\n  - rol_arn: x\n",
            "accounts[0].rol_arn: is not a known key; did you mean 'role_arn'?",
        ),
        ("output:\n  state_file: 3\n", "output.state_file: should be text (got 3)"),
        (
            "rules:\n  ebs-unattached:\n    enabled: maybe\n",
            "rules.ebs-unattached.enabled: should be true or false (got 'maybe')",
        ),
        (
            "rules:\n  ebs-unattached:\n    min_unattached_days: soon\n",
            "min_unattached_days: should be a whole number (got 'soon')",
        ),
        ("forge:\n  type: gitlab\n", "forge.type: should be 'local' or 'github' (got 'gitlab')"),
        (
            "exclusions:\n  zzz: 1\n",
            "exclusions.zzz: is not a known key here; known keys: resource_ids, skip_tag",
        ),
    ],
)
def test_a_config_mistake_is_explained_in_words(tmp_path: Path, text: str, line: str) -> None:
    code, output = _scan_with(tmp_path, text)
    assert code == ExitCode.CONFIG
    assert line in output
    for jargon in ("Input should be", "tuple[", "literal[", "Tuple should have"):
        assert jargon not in output


def test_a_bad_option_value_is_a_usage_error_in_words(tmp_path: Path) -> None:
    runner = CliRunner()
    repo = runner.invoke(main, ["init", "--dir", str(tmp_path), "--repo", "acme"])
    assert repo.exit_code == ExitCode.USAGE
    assert "'acme' is not OWNER/NAME, e.g. acme/cloud-costs" in repo.output
    assert "^[" not in repo.output  # no regular expression
    account = runner.invoke(
        main, ["init", "--dir", str(tmp_path), "--repo", "acme/x", "--service-account", "12"]
    )
    assert account.exit_code == ExitCode.USAGE
    assert "'12' is not a 12-digit AWS account ID" in account.output
    shard = runner.invoke(main, ["scan", "--shard", "3/2"])
    assert shard.exit_code == ExitCode.USAGE
    assert "--shard '3/2' is not I/N" in shard.output


def test_the_demo_without_moto_names_the_extra_and_exits_11(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "moto", None)  # import moto raises ImportError
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == ExitCode.DEPENDENCY
    assert 'pip install "reclaim[demo]"' in result.output  # not eaten as markup


def _refresh_failing(code: str, status: int) -> pytest.ExceptionInfo[Exception]:
    pricing = boto3.client("pricing", region_name="us-east-1")
    with Stubber(pricing) as stubber:
        stubber.add_client_error(
            "get_products", service_error_code=code, service_message="", http_status_code=status
        )
        with pytest.raises((AwsCallFailed, CredentialsError)) as error:
            refresh_price_table(pricing, "us-east-1", base=bundled_prices(), today=date.today())
    return error


def test_prices_refresh_blames_a_permission_only_when_one_is_missing() -> None:
    outage = _refresh_failing("InternalFailure", 500)
    assert "failed (HTTP 500)" in outage.value.message
    assert "not a permission" in str(outage.value.hint)
    assert "pricing:GetProducts" not in str(outage.value.hint)
    denied = _refresh_failing("AccessDeniedException", 400)
    assert "pricing:GetProducts" in str(denied.value.hint)
    expired = _refresh_failing("ExpiredTokenException", 400)
    assert isinstance(expired.value, CredentialsError)
