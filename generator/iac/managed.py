"""Which findings are managed by infrastructure code, and by what.

A finding's resource is managed when a configured Terraform root's state holds an instance
whose ``id`` or ``arn`` is the resource the finding acts on, or when its recorded tags carry
CloudFormation's ``aws:cloudformation:stack-name``. Matching is by value across every
resource type: a resource that any state names is managed, whatever type declares it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from generator.findings import Finding
from generator.iac.config import IacConfig, TerraformRoot
from generator.iac.locate import Location, NotLocated, locate
from generator.iac.state import S3Reader, StateInstance, read_state

STACK_TAG = "aws:cloudformation:stack-name"


@dataclass(frozen=True)
class TerraformManaged:
    root: TerraformRoot
    root_dir: Path
    instance: StateInstance
    location: Location | None
    not_located: str | None = None
    """Why the declaring block was not found (a registry module, no such block...)."""
    also: tuple[str, ...] = ()
    """Other addresses (in any root) naming the same resource: a person must choose."""
    stale: str | None = None
    """Why the root's state may not describe its code (generator.iac.staleness)."""

    @property
    def address(self) -> str:
        return self.instance.address


@dataclass(frozen=True)
class StackManaged:
    stack: str


Managed = TerraformManaged | StackManaged

ActedOn = Callable[[Finding], tuple[str, dict[str, str]]]
"""A finding → (the resource ID its manifests act on, the resource's recorded tags)."""


class IacIndex:
    """Every configured root's managed instances, by ``id`` and by ``arn``."""

    def __init__(
        self,
        roots: Iterable[tuple[TerraformRoot, Path, tuple[StateInstance, ...]]],
        *,
        cloudformation: bool = True,
        stale: dict[str, str] | None = None,
    ) -> None:
        """``stale``: root name → why its state may not describe its code."""
        self.cloudformation = cloudformation
        self.stale = stale or {}
        self._by_value: dict[str, list[tuple[TerraformRoot, Path, StateInstance]]] = {}
        for root, root_dir, instances in roots:
            for instance in instances:
                for value in {instance.id, instance.arn} - {None}:
                    assert value is not None
                    self._by_value.setdefault(value, []).append((root, root_dir, instance))

    @classmethod
    def load(
        cls, iac: IacConfig, base_dir: Path, s3_reader: Callable[[int], S3Reader] | None = None
    ) -> IacIndex:
        """Read every root's state; ``s3_reader(index)`` reads root ``index``'s S3 state."""
        from generator.iac.staleness import stale_state

        stale = {
            root.name: reason
            for root in iac.terraform
            if (reason := stale_state(root, base_dir)) is not None
        }
        return cls(
            (
                (root, base_dir / root.path, read_state(root, base_dir, s3_reader and s3_reader(i)))
                for i, root in enumerate(iac.terraform)
            ),
            cloudformation=iac.cloudformation,
            stale=stale,
        )

    def instances(self) -> list[StateInstance]:
        """Every indexed instance, once."""
        seen: dict[tuple[str, str], StateInstance] = {}
        for matches in self._by_value.values():
            for root, _, instance in matches:
                seen[(root.name, instance.address)] = instance
        return list(seen.values())

    def managing(self, resource_id: str, tags: dict[str, str]) -> Managed | None:
        stack = tags.get(STACK_TAG) if self.cloudformation else None
        if stack:
            return StackManaged(stack)
        matches = self._by_value.get(resource_id, [])
        if not matches:
            return None
        (root, root_dir, instance), *others = matches
        also = tuple(f"{r.name}: {i.address}" for r, _, i in others)
        stale = self.stale.get(root.name)
        try:
            location = locate(root_dir, instance)
        except NotLocated as why:
            return TerraformManaged(root, root_dir, instance, None, str(why), also, stale)
        return TerraformManaged(root, root_dir, instance, location, also=also, stale=stale)
