"""CODEOWNERS entries per account, so each account's owners must approve its changes.

Remediation folders are ``<remediations_dir>/<rule>-<account>-<region>-<resource>/``, so an
account's folders are matched by ``/<remediations_dir>/*-<account>-*/``: the account ID is
twelve digits between dashes, which no rule name, region or resource ID fragment of another
account can imitate. `reclaim init` writes these lines into .github/CODEOWNERS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from generator.errors import ConfigError

BEGIN = "# BEGIN reclaim (generated: one entry per account folder)"
END = "# END reclaim"
_OWNER = re.compile(r"^(@[A-Za-z0-9-]+(/[A-Za-z0-9._-]+)?|[^@\s]+@[^@\s]+\.[^@\s]+)$")
_ACCOUNT = re.compile(r"^\d{12}$")


def codeowners_entries(
    owners_by_account: Mapping[str, Sequence[str]],
    remediations_dir: str = "remediations",
    *,
    default_owners: Sequence[str] = (),
) -> str:
    """The reclaim block of a CODEOWNERS file. Later lines win in CODEOWNERS, so the
    catch-all for the folder (``default_owners``) comes first and accounts after it."""
    folder = "/" + remediations_dir.strip("/")
    lines = [BEGIN]
    if default_owners:
        lines.append(f"{folder}/ {' '.join(_checked(default_owners, 'default'))}")
    for account, owners in sorted(owners_by_account.items()):
        if not _ACCOUNT.match(account):
            raise ConfigError(f"CODEOWNERS: account {account!r} is not a 12-digit account ID")
        if owners:
            lines.append(f"{folder}/*-{account}-*/ {' '.join(_checked(owners, account))}")
    lines.append(END)
    return "\n".join(lines) + "\n"


def _checked(owners: Sequence[str], account: str) -> list[str]:
    for owner in owners:
        if not _OWNER.match(owner):
            raise ConfigError(
                f"CODEOWNERS: owner {owner!r} of account {account} is not @user, @org/team "
                "or an e-mail address"
            )
    return list(owners)


def merge_into(existing: str, block: str) -> str:
    """Replace reclaim's block in an existing CODEOWNERS (or append it), keeping the rest."""
    if BEGIN in existing and END in existing:
        head, _, rest = existing.partition(BEGIN)
        _, _, tail = rest.partition(END)
        return head + block.rstrip("\n") + tail
    separator = "" if not existing or existing.endswith("\n") else "\n"
    return existing + separator + ("\n" if existing else "") + block
