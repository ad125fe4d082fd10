"""CODEOWNERS entries per account, so each account's owners must approve its changes.

Remediation folders are ``<remediations_dir>/<rule>-<account>-<region>-<resource>/``, and
`reclaim validate` refuses a folder whose name is not the ID derived from its plan. An
account's folders are matched by one line per rule, ``/<remediations_dir>/<rule>-<account>-*/``,
anchored at the start of the name: a looser ``*-<account>-*`` would also match another
account's folder whose resource part holds these twelve digits (a log group named after an
account), and CODEOWNERS' last matching line would then route that folder's review to the
wrong owners. Rule names hold no twelve-digit part, so no rule's line matches another rule's
folder. `reclaim init` writes these lines into .github/CODEOWNERS; re-run it after an upgrade
that adds a rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from generator.errors import ConfigError

BEGIN = "# BEGIN reclaim (generated: one entry per account folder)"
END = "# END reclaim"
_OWNER = re.compile(r"^(@[A-Za-z0-9-]+(/[A-Za-z0-9._-]+)?|[^@\s]+@[^@\s]+\.[^@\s]+)$")
_ACCOUNT = re.compile(r"^\d{12}$")
_RULE = re.compile(r"^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$")


def codeowners_entries(
    owners_by_account: Mapping[str, Sequence[str]],
    remediations_dir: str = "remediations",
    *,
    default_owners: Sequence[str] = (),
    rules: Sequence[str] | None = None,
) -> str:
    """The reclaim block of a CODEOWNERS file. Later lines win in CODEOWNERS, so the
    catch-all for the folder (``default_owners``) comes first and accounts after it.
    ``rules``: the rule names to route (default: every rule this reclaim knows)."""
    if rules is None:
        from generator.rules import RULES

        rules = sorted(RULES)
    for rule in rules:
        # Each part starts with a letter: no rule name can hold an account ID.
        if not _RULE.match(rule):
            raise ConfigError(f"CODEOWNERS: rule name {rule!r} cannot be matched unambiguously")
    folder = "/" + remediations_dir.strip("/")
    lines = [BEGIN]
    if default_owners:
        lines.append(f"{folder}/ {' '.join(_checked(default_owners, 'default'))}")
    for account, owners in sorted(owners_by_account.items()):
        if not _ACCOUNT.match(account):
            raise ConfigError(f"CODEOWNERS: account {account!r} is not a 12-digit account ID")
        if owners:
            named = " ".join(_checked(owners, account))
            lines.extend(f"{folder}/{rule}-{account}-*/ {named}" for rule in sorted(rules))
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
