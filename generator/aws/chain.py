"""The two-hop role chain: ambient credentials → service role (hop 1) → account role (hop 2).

Each hop is assumed once and shared by every region, rule and thread that needs it: hop 1
once per run, hop 2 once per account. Both are botocore refreshable credentials, so a run
that outlives a chained session's one-hour cap re-assumes the hop transparently (hop 2's
refresh signs with hop 1's credentials, refreshing hop 1 first when it is due too).

Role session names carry the run (the GitHub run ID when there is one) and, for apply and
rollback, ``SourceIdentity`` carries who approved the change, so CloudTrail in the customer
account names that person. An ExternalId, when configured, is always sent and never shown.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from generator.aws.session import RETRY_CONFIG, AccountSession, SessionFactory, new_session
from generator.errors import AwsCallFailed, ExitCode

if TYPE_CHECKING:  # annotations only: generator.config imports the rule catalog
    from generator.config import AccountConfig, ReclaimConfig

# AWS caps a session obtained by role chaining at one hour; asking for more fails.
SESSION_SECONDS = 3600
# What each role's trust policy must allow for reclaim's AssumeRole calls to succeed.
TRUST_POLICY_ACTIONS = ("sts:AssumeRole", "sts:SetSourceIdentity")

RunKind = Literal["scan", "propose", "apply", "rollback"]
READ_ONLY_KINDS: frozenset[RunKind] = frozenset({"scan", "propose"})
TimeFetcher = Callable[[], datetime]

_UNSAFE = re.compile(r"[^\w+=,.@-]")


def _sts_safe(text: str, limit: int) -> str:
    """RoleSessionName and SourceIdentity accept [\\w+=,.@-], 2 to 64 characters."""
    cleaned = _UNSAFE.sub("-", text)[:limit]
    return cleaned if len(cleaned) >= 2 else (cleaned + "--")[:2]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunIdentity:
    """Who and what assumes the roles: named in every role session this run opens."""

    kind: RunKind
    run: str
    actor: str | None = None

    @classmethod
    def current(
        cls,
        kind: RunKind,
        actor: str | None = None,
        environ: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> RunIdentity:
        env = os.environ if environ is None else environ
        run_id = env.get("GITHUB_RUN_ID")
        if run_id:
            run = f"gh-{run_id}-{env.get('GITHUB_RUN_ATTEMPT', '1')}"
        else:
            run = f"local-{(now or _utc_now()):%Y%m%dT%H%M%S}"
        return cls(kind=kind, run=run, actor=actor)

    @property
    def session_name(self) -> str:
        return _sts_safe(f"reclaim-{self.kind}-{self.run}", 64)

    @property
    def source_identity(self) -> str:
        """Who acts, recorded by CloudTrail in every account the chain reaches: the person
        who approved an apply or rollback, else reclaim and the kind of run (a scan changes
        nothing and names no person). Every run sets one: the remediation role `reclaim
        init` generates trusts only sessions that carry a SourceIdentity."""
        if self.kind in ("apply", "rollback") and self.actor:
            return _sts_safe(self.actor, 64)
        return f"reclaim-{self.kind}"


@dataclass(frozen=True)
class Hop:
    number: Literal[1, 2]
    role_arn: str
    external_id: str | None = field(default=None, repr=False)
    source_identity: str | None = None
    account_label: str | None = None
    session_policy: str | None = field(default=None, repr=False)
    """An inline session policy (JSON): the session may do only what it and the role allow."""

    def describe(self) -> str:
        what = "service role" if self.number == 1 else f"role of account {self.account_label}"
        return f"hop {self.number} ({what} {self.role_arn})"


class RoleChainError(AwsCallFailed):
    """A hop could not be assumed (or refreshed); the message names the hop and role.

    Refusals (no credentials, an untrusted caller, a wrong ExternalId) exit with the
    credentials code: re-running cannot help until the setup is fixed. Throttling and
    service errors keep the re-run code."""

    def __init__(self, message: str, *, hint: str | None = None, refused: bool = False) -> None:
        super().__init__(message, hint=hint)
        if refused:
            self.exit_code = ExitCode.CREDENTIALS


_REFUSALS = frozenset(
    {
        "AccessDenied",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "RegionDisabledException",
        "ValidationError",
    }
)


def _hint_for(hop: Hop, code: str, message: str) -> str:
    if code in ("InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "NoCredentials"):
        source = "the ambient credentials" if hop.number == 1 else "the service role (hop 1)"
        return f"{source} are invalid or expired: refresh them (e.g. re-run the OIDC login step)"
    if code == "RegionDisabledException":
        return "STS is not activated in this region for the account: activate it in IAM"
    if code == "ValidationError" and "DurationSeconds" in message:
        return (
            f"the role's maximum session duration must allow {SESSION_SECONDS} s; chained "
            "sessions cannot last longer than one hour"
        )
    fixes = [
        "the trust policy of "
        + hop.role_arn
        + " must allow "
        + ("the ambient principal" if hop.number == 1 else "the service role (hop 1)")
        + " to call "
        + " and ".join(TRUST_POLICY_ACTIONS)
    ]
    if hop.external_id is not None:
        fixes.append("the ExternalId reclaim sends must equal the trust policy's sts:ExternalId")
    else:
        fixes.append(
            "if the trust policy requires an sts:ExternalId, set external_id_env for this account"
        )
    fixes.append("the caller needs sts:AssumeRole on this role in its own permissions")
    return "; ".join(fixes)


def assume_role(sts: Any, hop: Hop, identity: RunIdentity) -> dict[str, Any]:
    """One AssumeRole call for ``hop``; returns botocore credential metadata."""
    params: dict[str, Any] = {
        "RoleArn": hop.role_arn,
        "RoleSessionName": identity.session_name,
        "DurationSeconds": SESSION_SECONDS,
    }
    if hop.external_id is not None:
        params["ExternalId"] = hop.external_id
    if hop.source_identity is not None:
        params["SourceIdentity"] = hop.source_identity
    if hop.session_policy is not None:
        params["Policy"] = hop.session_policy
    try:
        response = sts.assume_role(**params)
    except ClientError as error:
        details = error.response.get("Error", {})
        code, message = str(details.get("Code", "Unknown")), str(details.get("Message", ""))
        raise RoleChainError(
            f"{hop.describe()}: AssumeRole failed: {code}: {message}",
            hint=_hint_for(hop, code, message),
            refused=code in _REFUSALS,
        ) from None
    except NoCredentialsError:
        raise RoleChainError(
            f"{hop.describe()}: no AWS credentials to assume it with",
            hint=_hint_for(hop, "NoCredentials", ""),
            refused=True,
        ) from None
    except BotoCoreError as error:
        raise RoleChainError(f"{hop.describe()}: AssumeRole failed: {error}") from None
    credentials = response["Credentials"]
    return {
        "access_key": credentials["AccessKeyId"],
        "secret_key": credentials["SecretAccessKey"],
        "token": credentials["SessionToken"],
        "expiry_time": credentials["Expiration"].isoformat(),
        "assumed_arn": response.get("AssumedRoleUser", {}).get("Arn", ""),
    }


def refreshable_hop(
    sts: Any, hop: Hop, identity: RunIdentity, time_fetcher: TimeFetcher = _utc_now
) -> RefreshableCredentials:
    """Assume ``hop`` now (so a failure surfaces before any scan) and keep it fresh."""

    def fetch() -> dict[str, Any]:
        return assume_role(sts, hop, identity)

    first = fetch()
    return RefreshableCredentials(
        access_key=first["access_key"],
        secret_key=first["secret_key"],
        token=first["token"],
        expiry_time=datetime.fromisoformat(first["expiry_time"]),
        refresh_using=fetch,
        method="reclaim-role-chain",
        time_fetcher=time_fetcher,
    )


class RoleChain:
    """Account sessions through the chain configured in reclaim.yml."""

    def __init__(
        self,
        config: ReclaimConfig,
        identity: RunIdentity,
        *,
        base_session: SessionFactory = new_session,
        time_fetcher: TimeFetcher = _utc_now,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.identity = identity
        self._base_session = base_session
        self._time_fetcher = time_fetcher
        self._environ = environ
        self._hop1: Credentials | None = None
        self._hop1_lock = threading.Lock()
        self._hop2_sts: Any = None
        self._hop2_sts_lock = threading.Lock()
        self._scan_policy: str | None = None
        self._scan_policy_lock = threading.Lock()

    def _sts(self, session: boto3.Session) -> Any:
        return session.client("sts", region_name=self.config.home_region, config=RETRY_CONFIG)

    def service_credentials(self) -> Credentials | None:
        """Hop 1, assumed on first use and shared by every account; None without hop 1."""
        if self.config.service_role is None:
            return None
        with self._hop1_lock:
            if self._hop1 is None:
                hop = Hop(
                    1,
                    self.config.service_role.role_arn,
                    source_identity=self.identity.source_identity,
                )
                self._hop1 = refreshable_hop(
                    self._sts(self._base_session()), hop, self.identity, self._time_fetcher
                )
            return self._hop1

    def _source_session(self) -> SessionFactory:
        hop1 = self.service_credentials()
        if hop1 is None:
            return self._base_session
        return lambda: new_session(hop1)

    def _sts_for_hop2(self) -> Any:
        """One STS client signing as hop 1 (or the ambient credentials) for every account's
        hop 2: clients are thread-safe, and building one per account cost more CPU than
        the AssumeRole calls themselves."""
        with self._hop2_sts_lock:
            if self._hop2_sts is None:
                self._hop2_sts = self._sts(self._source_session()())
            return self._hop2_sts

    def session_for(self, account: AccountConfig) -> AccountSession:
        """Clients for one account; assumes hop 2 now, so a refusal names this account."""
        index = self.config.accounts.index(account)
        source = self._source_session()
        if account.role_arn is None:
            # Without hop 2 the account is hop 1's, whose ARN names it; without either, the
            # ambient credentials' (AccountSession.account_id finds which).
            service_role = self.config.service_role
            return AccountSession(
                source,
                label=f"account {account.label} via {self._via()}",
                known_account_id=service_role.account_id if service_role else None,
            )
        role_arn = account.role_arn
        if self.identity.kind in READ_ONLY_KINDS and account.scan_role_arn:
            role_arn = account.scan_role_arn  # scans take the read-only role when there is one
        hop = Hop(
            2,
            role_arn,
            external_id=account.external_id_value(index, self._environ),
            # SourceIdentity is set once, at the first hop reclaim assumes; it then persists
            # through the chain and AWS refuses an attempt to change it.
            source_identity=None if self.config.service_role else self.identity.source_identity,
            account_label=account.label,
            session_policy=self._session_policy(),
        )
        credentials = refreshable_hop(self._sts_for_hop2(), hop, self.identity, self._time_fetcher)
        return AccountSession(
            lambda: new_session(credentials),
            label=f"account {account.label} via {hop.describe()}",
            known_account_id=account.expected_id,
        )

    def _session_policy(self) -> str | None:
        """Scans (and propose, which scans) read only: their sessions carry a policy that
        allows the enabled rules' read calls and nothing else. Apply and rollback none."""
        if self.identity.kind not in READ_ONLY_KINDS:
            return None
        with self._scan_policy_lock:  # accounts are prepared in parallel: build it once
            if self._scan_policy is None:
                from generator.aws.scan_policy import scan_session_policy

                calls = [self.config.rule(n).calls.scan for n in self.config.enabled_rules()]
                if self.config.iac.state_objects:
                    # Terraform state in S3 (reclaim.yml's iac:); the role's own policy
                    # grants GetObject on those keys only.
                    calls.append(frozenset({("s3", "GetObject")}))
                self._scan_policy = scan_session_policy(calls)
            return self._scan_policy

    def _via(self) -> str:
        if self.config.service_role is None:
            return "the ambient credentials"
        return f"hop 1 ({self.config.service_role.role_arn})"
