"""reclaim.yml's ``iac:`` section: the Terraform roots and where their state is read.

A root is a directory of ``.tf`` files in the ops repository (the one that receives the
pull requests) or in another checked-out repository, relative to reclaim.yml. Its state is
read from exactly one of: a local state file, an S3 backend object (read by the scan role,
which is granted ``s3:GetObject`` on that one key), or a ``terraform show -json`` file.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_REGION = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
# S3's bucket naming rules (general purpose buckets): 3-63 of a-z 0-9 . -, starting and
# ending with a letter or digit.
_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_UNSAFE_KEY = re.compile(r'[*?"{}$\\\x00-\x1f\x7f]')
_ROOT_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or "\\" in value:
        raise ValueError(
            f"{value!r} must be a path relative to reclaim.yml's directory, with '/' separators"
        )
    return value


class S3State(_Strict):
    """An S3 backend's state object; the scan role reads this one key and nothing else."""

    bucket: str = Field(pattern=_BUCKET, description="The backend's bucket.")
    key: str = Field(min_length=1, max_length=1024, description="The state object's key.")
    region: str = Field(pattern=_REGION, description="The bucket's region.")
    account: str | None = Field(
        default=None,
        description="The name or 12-digit ID of the account in accounts whose scan role "
        "reads the object. Absent: the first account.",
    )

    @field_validator("key")
    @classmethod
    def _key_is_an_object(cls, key: str) -> str:
        if key.startswith("/") or key.endswith("/") or _UNSAFE_KEY.search(key):
            raise ValueError(
                f"{key!r} must be the state object's key, e.g. 'prod/terraform.tfstate' "
                "(no leading or trailing '/', no wildcard, quote, brace, '$' or control "
                "character: the grant is on this key only, written into IAM and HCL)"
            )
        return key

    @property
    def object_arn(self) -> str:
        return f"arn:{{partition}}:s3:::{self.bucket}/{self.key}"


class TerraformState(_Strict):
    """Where a root's state is read: exactly one of local, s3, show_json."""

    local: str | None = Field(
        default=None, description="A terraform.tfstate file (format 4), relative to reclaim.yml."
    )
    s3: S3State | None = None
    show_json: str | None = Field(
        default=None,
        description="The output of `terraform show -json` for the root, relative to reclaim.yml.",
    )

    @field_validator("local", "show_json")
    @classmethod
    def _relative_path(cls, value: str | None) -> str | None:
        return None if value is None else _relative(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> TerraformState:
        given = [name for name in ("local", "s3", "show_json") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of local (a state file), s3 (bucket, key, region) or "
                f"show_json (a `terraform show -json` file); got {', '.join(given) or 'none'}"
            )
        return self


class TerraformRoot(_Strict):
    name: str = Field(
        pattern=_ROOT_NAME, description="A short name for the root (lowercase, digits, _ -)."
    )
    path: str = Field(description="The root module's directory, relative to reclaim.yml.")
    repository: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="owner/name of the repository the root is in, when it is not the one "
        "receiving reclaim's pull requests (its code changes are then described, not made).",
    )
    state: TerraformState

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        return _relative(value)


class IacConfig(_Strict):
    terraform: tuple[TerraformRoot, ...] = ()
    cloudformation: bool = Field(
        default=True,
        description="Treat resources tagged aws:cloudformation:stack-name as managed by "
        "their stack: reported needs-human, never changed through the API.",
    )

    @field_validator("terraform")
    @classmethod
    def _names_are_unique(cls, roots: tuple[TerraformRoot, ...]) -> tuple[TerraformRoot, ...]:
        names = [root.name for root in roots]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"root name {name!r} is used twice; names must be unique")
        paths = [re.sub(r"/+$", "", root.path) for root in roots]
        for path in paths:
            if paths.count(path) > 1:
                raise ValueError(f"root path {path!r} is listed twice")
        return roots

    @property
    def state_objects(self) -> tuple[str, ...]:
        """The S3 objects the scan role must read (s3:GetObject, one key each), as IAM
        resource templates ({partition} filled in by the policy renderer)."""
        return tuple(sorted({root.state.s3.object_arn for root in self.terraform if root.state.s3}))
