"""What the repository's own Terraform already declares, read with python-hcl2.

AWS allows one OIDC provider per URL and account: when the repository's Terraform already
declares (or looks up) GitHub's, the generated service role uses that one instead of
declaring a second. A role the repository already declares under the name the pipeline
would use, or a .tf file of its own inside a module directory the pipeline writes, is a
collision the user must resolve before applying.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
_SKIP_DIRS = {".terraform", ".git", "node_modules", ".venv"}


@dataclass(frozen=True)
class Collision:
    path: str
    what: str


@dataclass
class ExistingTerraform:
    oidc_provider: str | None = None
    """Where the GitHub OIDC provider is declared (file and address), if anywhere."""
    collisions: list[Collision] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def _tf_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.tf")):
        if not _SKIP_DIRS.intersection(path.relative_to(root).parts):
            yield path


def _blocks(parsed: dict[str, Any], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every ``resource``/``data`` block."""
    for entry in parsed.get(kind, []):
        for block_type, named in entry.items():
            for name, body in named.items():
                yield block_type.strip('"'), name.strip('"'), body


def _is_github_oidc(body: dict[str, Any]) -> bool:
    url = body.get("url")
    return isinstance(url, str) and url.strip('"').removeprefix("https://").rstrip("/") == (
        GITHUB_OIDC_HOST
    )


def read_existing(
    root: Path,
    *,
    role_names: dict[str, str],
    own_module_dirs: tuple[str, ...],
    generated: set[str],
) -> ExistingTerraform:
    """Scan every .tf under ``root`` except the files reclaim generated itself.

    ``role_names`` maps a role name the pipeline creates to what it is for; ``own_module_dirs``
    are the directories (relative to ``root``) the pipeline writes its modules into."""
    found = ExistingTerraform()
    options = SerializationOptions(strip_string_quotes=True)
    for path in _tf_files(root):
        relative = path.relative_to(root).as_posix()
        if relative in generated:
            continue
        if any(relative.startswith(f"{module}/") for module in own_module_dirs):
            found.collisions.append(
                Collision(
                    relative,
                    "a .tf file of your own inside a module directory reclaim writes; "
                    "Terraform would merge it into reclaim's module",
                )
            )
        try:
            with path.open(encoding="utf-8") as handle:
                parsed = hcl2.load(handle, serialization_options=options)
        except Exception as error:  # python-hcl2 raises lark's many error types
            found.unreadable.append(f"{relative}: {type(error).__name__}")
            continue
        for kind in ("resource", "data"):
            for block_type, name, body in _blocks(parsed, kind):
                address = f"{'data.' if kind == 'data' else ''}{block_type}.{name}"
                is_github_oidc = block_type == "aws_iam_openid_connect_provider" and (
                    _is_github_oidc(body)
                )
                # A declaration wins over a lookup: the lookup may read the declared one.
                if is_github_oidc and (kind == "resource" or found.oidc_provider is None):
                    found.oidc_provider = f"{relative} ({address})"
                role_name = body.get("name")
                if kind == "resource" and block_type == "aws_iam_role" and role_name in role_names:
                    found.collisions.append(
                        Collision(
                            relative,
                            f"{address} is also named {role_name!r}, the name of reclaim's "
                            f"{role_names[role_name]}; IAM role names are unique per account",
                        )
                    )
    return found
