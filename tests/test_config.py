"""reclaim.yml: defaults, and one clear message naming the key path for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.config import load_config
from generator.errors import ConfigError
from generator.rules import RULES
from generator.rules.ebs_unattached import EbsUnattachedSettings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reclaim.yml"
    path.write_text(text)
    return path


def test_defaults_enable_every_rule_with_its_default_thresholds(tmp_path):
    config = load_config(write(tmp_path, "version: 1\n"))
    # every rule but the opt-in ones, whose write grant is wider than their change
    assert config.enabled_rules() == [n for n in sorted(RULES) if RULES[n].settings_model().enabled]
    assert "s3-incomplete-multipart" not in config.enabled_rules()
    assert {
        "ebs-unattached",
        "ebs-gp2-to-gp3",
        "ebs-snapshot-archive",
        "ec2-idle",
        "eip-unassociated",
        "logs-retention",
        "cloudfront-price-class",
    } <= set(RULES)
    settings = config.rule_settings("ebs-unattached")
    assert isinstance(settings, EbsUnattachedSettings) and settings.min_unattached_days == 7
    assert config.exclusions.skip_tag == "reclaim:skip"
    assert config.state_path == (tmp_path / ".reclaim/state.json").resolve()


def test_rule_settings_are_typed(tmp_path):
    config = load_config(
        write(tmp_path, "rules:\n  ebs-unattached:\n    min_unattached_days: 30\n")
    )
    assert config.rule_settings("ebs-unattached").min_unattached_days == 30  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  ebs-unattached:\n    min_unattached_days: seven\n",
            "rules.ebs-unattached.min_unattached_days: should be a whole number (got 'seven')",
        ),
        (
            "rules:\n  ebs-unattached:\n    min_unattached_days: 0\n",
            "rules.ebs-unattached.min_unattached_days: should be at least 1 (got 0)",
        ),
        (
            "rules:\n  ebs-unattched: {}\n",
            "rules.ebs-unattched: is not a known rule; did you mean 'ebs-unattached'?",
        ),
        ("regions: [us-east-1, Frankfurt]\n", "'Frankfurt' is not an AWS region name"),
        ("exclusions:\n  skip_tags: x\n", "exclusions.skip_tags: is not a known key"),
        ("accounts:\n  - id: '1234'\n", "accounts[0].id: should be a 12-digit AWS account ID"),
        ("version: 2\n", "version: should be 1"),
        ("- just\n- a list\n", "expected a mapping at the top level"),
        ("regions: [us-east-1\n", "not valid YAML"),
    ],
)
def test_invalid_config_names_the_key_path(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert expected in raised.value.message
    assert str(path) in raised.value.message


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.yml does not exist"):
        load_config(tmp_path / "absent.yml")
