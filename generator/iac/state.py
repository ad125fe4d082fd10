"""Terraform state, read: every managed resource instance with its address, ``id`` and ``arn``.

Two documents hold the same facts: the state file itself (format 4, as the local and S3
backends store it: ``resources[].instances[]``) and ``terraform show -json`` (``values``,
``root_module`` and nested ``child_modules``). Data sources are not managed and are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import ConfigError
from generator.iac.config import TerraformRoot
from generator.untrusted import checked, decode, parse_json, read_bytes

MAX_STATE_BYTES = 64 * 1024 * 1024
_HINT = "check iac.terraform[].state in reclaim.yml; the state must be Terraform's own output"

S3Reader = Callable[[str, str, str], bytes]
"""(bucket, key, region) → the object's bytes, read through the role chain."""


@dataclass(frozen=True)
class StateInstance:
    """One instance of a managed resource in a root's state."""

    root: str
    module: str
    """'' for the root module, else e.g. 'module.disks' or 'module.a.module.b'."""
    type: str
    name: str
    index: int | str | None
    id: str | None
    arn: str | None

    @property
    def resource_address(self) -> str:
        """The resource's address without the instance key."""
        local = f"{self.type}.{self.name}"
        return f"{self.module}.{local}" if self.module else local

    @property
    def address(self) -> str:
        return self.resource_address + index_suffix(self.index)


def index_suffix(index: int | str | None) -> str:
    if index is None:
        return ""
    if isinstance(index, int):
        return f"[{index}]"
    return f"[{json.dumps(index)}]"


_KEY = r'(?:\d+|"(?:[^"\\]|\\.)*")'
_ADDRESS = re.compile(
    rf"^((?:module\.[A-Za-z0-9_-]+(?:\[{_KEY}\])?\.)*)"
    rf"([A-Za-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\[({_KEY})\])?$"
)


def parse_address(root: str, address: str) -> StateInstance | None:
    """The instance a managed resource address names (``module.a.aws_x.y["k"]``), without
    its id and arn; None when ``address`` is not one."""
    match = _ADDRESS.match(address)
    if match is None:
        return None
    module, type_, name, key = match.groups()
    index: int | str | None = None
    if key is not None:
        index = int(key) if key.isdigit() else json.loads(key)
    return StateInstance(root, module.removesuffix("."), type_, name, index, None, None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _index(value: Any) -> int | str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return value


def _from_state_file(root: str, document: dict[str, Any]) -> Iterator[StateInstance]:
    for resource in document.get("resources") or ():
        if not isinstance(resource, dict) or resource.get("mode") != "managed":
            continue
        for instance in resource.get("instances") or ():
            if not isinstance(instance, dict):
                continue
            attributes = instance.get("attributes") or {}
            yield StateInstance(
                root=root,
                module=str(resource.get("module") or ""),
                type=str(resource.get("type")),
                name=str(resource.get("name")),
                index=_index(instance.get("index_key")),
                id=_text(attributes.get("id")),
                arn=_text(attributes.get("arn")),
            )


def _from_module(root: str, module: dict[str, Any]) -> Iterator[StateInstance]:
    prefix = str(module.get("address") or "")
    for resource in module.get("resources") or ():
        if not isinstance(resource, dict) or resource.get("mode") != "managed":
            continue
        values = resource.get("values") or {}
        yield StateInstance(
            root=root,
            module=prefix,
            type=str(resource.get("type")),
            name=str(resource.get("name")),
            index=_index(resource.get("index")),
            id=_text(values.get("id")),
            arn=_text(values.get("arn")),
        )
    for child in module.get("child_modules") or ():
        if isinstance(child, dict):
            yield from _from_module(root, child)


def parse_state(text: str, *, root: str, source: str) -> tuple[StateInstance, ...]:
    """The managed instances of a state file (format 4) or of `terraform show -json`."""
    document = checked(parse_json(text, source, ConfigError, _HINT), source, ConfigError, _HINT)
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: not Terraform state (not a JSON object)", hint=_HINT)
    if "values" in document or "format_version" in document:
        values = document.get("values") or {}
        return tuple(_from_module(root, values.get("root_module") or {}))
    if document.get("version") != 4:
        raise ConfigError(
            f"{source}: Terraform state format {document.get('version')!r} is not supported "
            "(format 4, Terraform 0.12 and later, is)",
            hint="run `terraform state pull` with a current Terraform, or give show_json",
        )
    return tuple(_from_state_file(root, document))


def read_state(
    root: TerraformRoot, base_dir: Path, s3_reader: S3Reader | None = None
) -> tuple[StateInstance, ...]:
    """Every managed instance of ``root``, from where reclaim.yml says its state is."""
    state = root.state
    where = f"iac.terraform {root.name!r}"
    if state.s3 is not None:
        s3 = state.s3
        if s3_reader is None:
            raise ConfigError(f"{where}: its state is in S3 and this command reads no AWS")
        data = s3_reader(s3.bucket, s3.key, s3.region)
        if len(data) > MAX_STATE_BYTES:
            raise ConfigError(f"{where}: s3://{s3.bucket}/{s3.key} is larger than 64 MiB")
        source = f"s3://{s3.bucket}/{s3.key}"
        return parse_state(decode(data, source, ConfigError, _HINT), root=root.name, source=source)
    relative = state.local or state.show_json
    assert relative is not None  # the config model requires exactly one source
    path = base_dir / relative
    data = read_bytes(path, ConfigError, max_bytes=MAX_STATE_BYTES, hint=_HINT)
    return parse_state(decode(data, path, ConfigError, _HINT), root=root.name, source=str(path))
