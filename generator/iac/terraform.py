"""Running Terraform for one root: init, a saved plan, its JSON, and applying that plan.

Every command runs with the role chain's credentials of the finding's account in its
environment (and nothing from a developer's CLI configuration), non-interactively.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import AwsCallFailed, MissingDependency

PLAN_FILE = "reclaim.tfplan"
TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class Terraform:
    root: Path
    env: Mapping[str, str] = field(default_factory=dict)
    binary: str | None = None
    init_args: tuple[str, ...] = ()
    """Extra `terraform init` arguments (e.g. -plugin-dir of a provider mirror)."""

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        binary = self.binary or shutil.which("terraform")
        if binary is None:
            raise MissingDependency(
                "terraform is not installed: a Terraform-managed change is applied with it",
                hint="add hashicorp/setup-terraform to the apply workflow, or install it",
            )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))},
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            **self.env,
        }
        return subprocess.run(
            [binary, *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )

    def _ok(self, what: str, *args: str) -> str:
        done = self._run(*args)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-2000:]
            raise AwsCallFailed(f"terraform {what} failed in {self.root}:\n{tail}")
        return done.stdout

    def init(self) -> None:
        self._ok("init", "init", "-input=false", "-no-color", *self.init_args)

    def plan(self) -> dict[str, Any]:
        """A saved plan (PLAN_FILE in the root) and its `terraform show -json`."""
        self._ok("plan", "plan", "-input=false", "-no-color", f"-out={PLAN_FILE}")
        shown = self._ok("show", "show", "-json", "-no-color", PLAN_FILE)
        plan: dict[str, Any] = json.loads(shown)
        return plan

    def apply_saved(self) -> str:
        """Apply exactly the saved plan (Terraform refuses it if the state moved since)."""
        return self._ok("apply", "apply", "-input=false", "-no-color", PLAN_FILE)

    def state(self) -> dict[str, Any]:
        shown = self._ok("show", "show", "-json", "-no-color")
        state: dict[str, Any] = json.loads(shown)
        return state
