"""A rule given as `enabled: false` alone is not imported to load reclaim.yml, nor to scan:
a scan of one rule pays for that rule's module and models only. Anything else said of a
disabled rule is still checked against its own settings model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator.config import DisabledRule, load_config
from generator.errors import ConfigError
from generator.rules import CATALOG, RULES
from generator.rules.ec2_idle import Ec2IdleSettings
from generator.schema import json_schema

ROOT = Path(__file__).resolve().parents[1]
RULE_MODULES = {module for module, _ in CATALOG.values()}


def _only(enabled: str) -> str:
    lines = ["rules:"]
    for name in RULES:
        lines.append(f"  {name}:" + ("" if name == enabled else " {enabled: false}"))
        if name == enabled:
            lines.append("    min_unattached_days: 30")
    return "\n".join(lines) + "\n"


def _fresh_env(**extra: str) -> dict[str, str]:
    """A fresh interpreter's environment: this checkout, fake keys, nothing of ours."""
    return {
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        **extra,
    }


def _rule_modules_after(code: str, cwd: Path) -> list[str]:
    """The rule modules a fresh interpreter has imported after running ``code``."""
    script = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('generator.rules.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=_fresh_env(),
    ).stdout
    return list(json.loads(out.splitlines()[-1]))


def test_loading_a_config_imports_only_the_enabled_rules(tmp_path: Path) -> None:
    (tmp_path / "reclaim.yml").write_text(_only("ebs-unattached"))

    loaded = _rule_modules_after(
        "from pathlib import Path\nfrom generator.config import load_config\n"
        "config = load_config(Path('reclaim.yml'))\n"
        "assert config.enabled_rules() == ['ebs-unattached'], config.enabled_rules()\n"
        "assert config.rule_settings('ebs-unattached').min_unattached_days == 30",
        tmp_path,
    )

    assert RULE_MODULES & set(loaded) == {"generator.rules.ebs_unattached"}


def test_a_scan_of_one_rule_imports_that_rule_alone(tmp_path: Path) -> None:
    (tmp_path / "reclaim.yml").write_text(_only("ebs-unattached"))

    loaded = _rule_modules_after(
        "from datetime import UTC, datetime\nfrom pathlib import Path\n"
        "import boto3\nfrom moto import mock_aws\n"
        "from generator.config import load_config\nfrom generator.scan import scan\n"
        "with mock_aws():\n"
        "    boto3.client('ec2', region_name='us-east-1').create_volume("
        "AvailabilityZone='us-east-1a', Size=8)\n"
        "    report = scan(load_config(Path('reclaim.yml')), as_of=datetime.now(UTC))\n"
        "assert report.errors == (), report.errors\n"
        "assert [u.rule for u in report.completed] == ['ebs-unattached'], report.completed",
        tmp_path,
    )

    assert RULE_MODULES & set(loaded) == {"generator.rules.ebs_unattached"}


def test_a_disabled_rule_s_settings_are_its_own_defaults_built_when_asked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reclaim.yml"
    path.write_text(_only("ebs-unattached"))
    config = load_config(path)

    assert isinstance(config.rules.ec2_idle, DisabledRule)  # type: ignore[attr-defined]
    settings = config.rule_settings("ec2-idle")
    assert isinstance(settings, Ec2IdleSettings)
    assert settings == Ec2IdleSettings(enabled=False)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "{enabled: false, cpu_max_precent: 3}",
            "rules.ec2-idle.cpu_max_precent: is not a known key; did you mean 'cpu_max_percent'?",
        ),
        (
            "{enabled: false, cpu_max_percent: lots}",
            "rules.ec2-idle.cpu_max_percent: should be a number (got 'lots')",
        ),
        ("{enabled: nope}", "rules.ec2-idle.enabled: should be true or false (got 'nope')"),
    ],
)
def test_anything_more_said_of_a_disabled_rule_is_still_checked(
    tmp_path: Path, entry: str, expected: str
) -> None:
    path = tmp_path / "reclaim.yml"
    path.write_text(f"rules:\n  ec2-idle: {entry}\n")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert expected in raised.value.message


def test_the_config_schema_still_types_every_rule_s_settings() -> None:
    schema = json_schema("config")

    rules = schema["properties"]["rules"]
    reference = rules.get("$ref", "").rpartition("/")[2]
    properties = schema["$defs"][reference]["properties"]
    assert sorted(properties) == sorted(RULES)
    ec2_idle = schema["$defs"][properties["ec2-idle"]["$ref"].rpartition("/")[2]]
    assert "cpu_max_percent" in ec2_idle["properties"]


def test_a_catalog_entry_must_name_the_rule_its_class_declares() -> None:
    from generator.rules import Catalog

    catalog = Catalog({"ebs-detached": ("generator.rules.ebs_unattached", "EbsUnattached")})

    assert "ebs-detached" in catalog and not catalog.imported("ebs-detached")
    with pytest.raises(RuntimeError, match="is named 'ebs-unattached', not 'ebs-detached'"):
        catalog["ebs-detached"]


def test_a_scan_sends_its_first_request_before_importing_rich(tmp_path: Path) -> None:
    """The time to a scan's first AWS request is a start-up measure (benchmarks, row 4):
    the consoles, progress bar and report tables import rich (~15 ms) when they first
    print, after the scan has asked AWS. The first request is stopped here, unsent."""
    (tmp_path / "reclaim.yml").write_text("regions: [us-east-1]\n" + _only("ebs-unattached"))
    script = (
        "import sys, botocore.endpoint\n"
        "seen = []\n"
        "def first(self, request):\n"
        "    seen.append(sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.')))\n"
        "    raise SystemExit(f'RICH-AT-FIRST-REQUEST {seen[0]}')\n"
        "botocore.endpoint.Endpoint._send = first\n"
        "sys.argv = ['reclaim', 'scan', '--config', 'reclaim.yml', '--no-step-summary']\n"
        "from generator.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_fresh_env(CI="true"),
    )

    assert "RICH-AT-FIRST-REQUEST []" in done.stderr, done.stderr[-2000:]
