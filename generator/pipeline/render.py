"""Render the pipeline's files from templates/pipeline (Jinja2, StrictUndefined).

Pipeline templates are YAML and HCL full of ``${{ }}`` and ``${ }``, so they use ``[[ ]]``
for reclaim's own values and leave every other brace to GitHub and Terraform.
"""

from __future__ import annotations

import json
import posixpath
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from generator.forge.codeowners import codeowners_entries
from generator.pipeline.actions import ACTIONS
from generator.pipeline.policy import RolePolicies, hcl_statement, role_policies
from generator.pipeline.spec import Fleet, PipelineOptions, TargetAccount
from generator.render import environment as markdown_environment
from generator.render import templates_dir
from generator.rules import RULES

WORKFLOWS = ("reclaim-scan", "reclaim-validate", "reclaim-apply", "reclaim-rollback")
TERRAFORM_FILES = ("versions.tf", "main.tf", "variables.tf", "outputs.tf", "README.md")
CODEOWNERS_PATH = ".github/CODEOWNERS"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        undefined=StrictUndefined,
        variable_start_string="[[",
        variable_end_string="]]",
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(markdown_environment().filters)  # money, code: as in PR bodies
    return env


def _render(template: str, **context: Any) -> str:
    text = environment().get_template(f"pipeline/{template}").render(**context)
    # Macros end with a newline and sit on their own line: fold the blank lines they leave.
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def _hcl_regions(regions: tuple[str, ...] | None) -> str:
    return json.dumps(list(regions or ()))


def render_config(
    options: PipelineOptions,
    accounts: tuple[TargetAccount, ...],
    regions: tuple[str, ...],
    enabled_rules: tuple[str, ...],
) -> str:
    config_dir = posixpath.dirname(options.config_file) or "."
    return _render(
        "reclaim.yml.j2",
        options=options,
        accounts=accounts,
        regions=list(regions),
        rules=[{"name": name, "enabled": name in enabled_rules} for name in sorted(RULES)],
        remediations_dir=posixpath.relpath("remediations", config_dir),
        state_file=posixpath.relpath(".reclaim/state.json", config_dir),
    )


def customer_policies(fleet: Fleet) -> RolePolicies:
    return role_policies(
        (RULES[name] for name in fleet.enabled_rules),
        skip_tag=fleet.skip_tag,
        state_objects=fleet.state_objects,
    )


def render_workflows(options: PipelineOptions, fleet: Fleet) -> dict[str, str]:
    context = {
        "options": options,
        "fleet": fleet,
        "actions": ACTIONS,
        "shards": json.dumps(list(range(1, options.scan_shards + 1))),
    }
    return {
        f".github/workflows/{name}.yml": _render(f"workflows/{name}.yml.j2", **context)
        for name in WORKFLOWS
    }


def render_terraform(
    options: PipelineOptions, fleet: Fleet, *, create_oidc_provider: bool
) -> dict[str, str]:
    policies = customer_policies(fleet)
    documents = {
        name: [hcl_statement(s, policies.skip_tag) for s in statements]
        for name, statements in policies.documents.items()
    }
    default_regions = _hcl_regions(fleet.regions)
    context = {
        "options": options,
        "fleet": fleet,
        "create_oidc_provider": create_oidc_provider,
        "documents": documents,
        "default_regions": default_regions,
        "read_actions": [a for s in policies.read for a in s.actions],
        "write_statements": [{"actions": s.actions, "why": s.grant.why} for s in policies.write],
    }
    files: dict[str, str] = {}
    for module in ("service-role", "customer-role"):
        for name in TERRAFORM_FILES:
            template = "terraform/versions.tf.j2" if name == "versions.tf" else None
            template = template or f"terraform/{module}/{name}.j2"
            files[f"{options.terraform_dir}/{module}/{name}"] = _render(template, **context)
    for account in fleet.accounts:
        path = f"{options.terraform_dir}/customer-role/accounts/{account.slug}.tfvars"
        files[path] = _render(
            "terraform/customer-role/account.tfvars.j2", account=account, options=options
        )
    return files


def render_codeowners_block(options: PipelineOptions, fleet: Fleet) -> str | None:
    """reclaim's block of .github/CODEOWNERS, or None when no account names owners."""
    owners = {account.id: account.owners for account in fleet.accounts if account.owners}
    if not owners:
        return None
    return codeowners_entries(owners, fleet.remediations_dir)
