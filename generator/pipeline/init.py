"""`reclaim init`: read reclaim.yml (or write it from --account flags), look at the
repository's own Terraform, render the pipeline, and write it without clobbering edits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from generator.config import ReclaimConfig, load_config, parse_config
from generator.errors import ConfigError
from generator.pipeline.existing import Collision, read_existing
from generator.pipeline.policy import unscoped_writes
from generator.pipeline.render import (
    CODEOWNERS_PATH,
    customer_policies,
    render_codeowners_block,
    render_config,
    render_terraform,
    render_workflows,
)
from generator.pipeline.spec import Fleet, PipelineOptions, TargetAccount, fleet_from_config
from generator.pipeline.writer import (
    FileChange,
    Generated,
    apply_changes,
    load_manifest,
    plan_changes,
)


@dataclass(frozen=True)
class NewFleet:
    """reclaim.yml to write, from the command line."""

    accounts: tuple[TargetAccount, ...]
    regions: tuple[str, ...]
    enabled_rules: tuple[str, ...]


@dataclass
class InitReport:
    changes: list[FileChange]
    fleet: Fleet
    oidc_provider: str | None
    collisions: list[Collision] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unscoped_writes: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    """Files an earlier run generated that this one does not (an account was removed)."""
    missing_scan_roles: list[str] = field(default_factory=list)
    """`scan_role_arn: ...` lines reclaim.yml lacks (the scan role cannot assume role_arn)."""
    written: bool = False


def load_fleet(
    root: Path, options: PipelineOptions, new: NewFleet | None
) -> tuple[Fleet, str | None]:
    """The fleet, and reclaim.yml's text when init writes it."""
    config_path = root / options.config_file
    if new is not None:
        text = render_config(options, new.accounts, new.regions, new.enabled_rules)
        config = parse_config(
            yaml.safe_load(text), source=options.config_file, base_dir=config_path.parent
        )
        return fleet_from_config(config, root.resolve()), text
    if not config_path.exists():
        raise ConfigError(
            f"{config_path} does not exist",
            hint="pass --account id=...,name=... (repeatable) to create it, or --config-file "
            "with the path of your reclaim.yml",
        )
    loaded: ReclaimConfig = load_config(config_path)
    return fleet_from_config(loaded, root.resolve()), None


def plan_init(
    root: Path, options: PipelineOptions, new: NewFleet | None, *, force: bool
) -> InitReport:
    """Everything init would do, without writing: show it, then ``write_init``."""
    root.mkdir(parents=True, exist_ok=True)
    fleet, config_text = load_fleet(root, options, new)
    manifest = load_manifest(root)
    tf = PurePosixPath(options.terraform_dir)
    existing = read_existing(
        root,
        role_names={
            options.service_role_name: "service role",
            options.customer_role_name: "remediation role",
        },
        own_module_dirs=(str(tf / "service-role"), str(tf / "customer-role")),
        generated=set(manifest.files) if manifest else set(),
    )
    files: list[Generated] = []
    if config_text is not None and "config" in options.parts:
        files.append(Generated(options.config_file, config_text))
    if "workflows" in options.parts:
        files += [Generated(p, c) for p, c in render_workflows(options, fleet).items()]
    if "terraform" in options.parts:
        rendered = render_terraform(
            options, fleet, create_oidc_provider=existing.oidc_provider is None
        )
        files += [Generated(p, c) for p, c in rendered.items()]
    if "codeowners" in options.parts:
        block = render_codeowners_block(options, fleet)
        if block is not None:
            files.append(Generated(CODEOWNERS_PATH, block, block=True))
    changes = plan_changes(root, files, manifest, force=force)
    report = InitReport(
        changes=changes,
        fleet=fleet,
        oidc_provider=existing.oidc_provider,
        collisions=existing.collisions,
        unreadable=existing.unreadable,
        unscoped_writes=unscoped_writes(customer_policies(fleet)),
        missing_scan_roles=[
            f"{account.name} ({account.id}): scan_role_arn: "
            + account.scan_role_default(options.customer_scan_role_name)
            for account in fleet.accounts
            if account.scan_role_arn is None
        ],
        stale=sorted(
            path
            for path in (manifest.files if manifest else {})
            # reclaim.yml stays: without --account it is what init reads
            if path not in {f.path for f in files}
            and path != options.config_file
            and (root / path).exists()
        ),
    )
    return report


def write_init(root: Path, report: InitReport, options: PipelineOptions) -> None:
    """Write the planned files (all, or none when one is a conflict) and the manifest."""
    apply_changes(root, report.changes, options)
    report.written = True
