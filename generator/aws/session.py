"""boto3 sessions and clients: standard credentials, AWS_ENDPOINT_URL, adaptive retries.

Clients are shared by the scan's threads, one per (account, service, region): boto3
clients are thread-safe, while building one costs tens of milliseconds of CPU (its class
has a method per API operation), which measured as the largest cost of a fleet scan when
every thread built its own; the clients of all these sessions share one class per
service (generator.aws.client_classes), most of what creating a client costs. The
session that builds them is not thread-safe, so it is only used under a lock. All
sessions share one data loader, so the service models (EC2's is megabytes of JSON) are
parsed once per process. Refreshable credentials lock their
own refresh, so one credentials object serves every client of an account. Responses parse
their timestamps with generator.aws.timestamps (the standard library, not dateutil).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, Credentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from generator import __version__
from generator.aws.client_classes import share_classes
from generator.aws.session_events import new_core_session
from generator.aws.timestamps import response_parser_factory
from generator.errors import AwsCallFailed, CredentialsError
from generator.heap import settled
from generator.service_models import shared_loader

RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    user_agent_extra=f"reclaim/{__version__}",
)

SessionFactory = Callable[[], boto3.Session]

# Holds only the parser defaults (each response gets a parser of its own): safe to share.
_PARSER_FACTORY = response_parser_factory()


class _GivenCredentials(CredentialProvider):  # type: ignore[misc]
    METHOD = "reclaim-role-chain"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def core_session() -> botocore.session.Session:
    """A botocore session on the shared loader: service models are read from disk once,
    botocore's built-in handlers registered once (generator.aws.session_events)."""
    core = new_core_session()
    core.register_component("data_loader", shared_loader())
    core.register_component("response_parser_factory", _PARSER_FACTORY)
    return core


def new_session(credentials: Credentials | None = None) -> boto3.Session:
    """A boto3 session on the shared loader; with ``credentials``, it signs with exactly
    those (never falling back to the environment), else with the standard provider chain."""
    core = core_session()
    if credentials is not None:
        resolver = CredentialResolver([_GivenCredentials(credentials)])
        core.register_component("credential_provider", resolver)
    return share_classes(boto3.Session(botocore_session=core))


class AccountSession:
    """Clients for one AWS account, shared by every thread that scans it."""

    def __init__(
        self,
        make_session: SessionFactory | None = None,
        *,
        label: str = "ambient credentials",
        known_account_id: str | None = None,
    ) -> None:
        self._make_session = make_session or new_session
        self._session: boto3.Session | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.label = label
        # Credentials of a role in account X act in X: no need to ask STS.
        self._account_id: str | None = known_account_id

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    if self._session is None:
                        self._session = self._make_session()
                    client = self._session.client(service, region_name=region, config=RETRY_CONFIG)
                    self._clients[key] = client
                    settled()  # its service model and class live as long as the process
        return client

    def credentials_env(self) -> dict[str, str]:
        """These credentials as the environment variables a child process (Terraform)
        reads: the assumed role's session, never a developer's profile."""
        with self._lock:
            if self._session is None:
                self._session = self._make_session()
            credentials = self._session.get_credentials()
        if credentials is None:
            raise CredentialsError(
                f"no AWS credentials found ({self.label})",
                hint="configure credentials (GitHub OIDC via aws-actions/configure-aws-"
                "credentials, or environment variables)",
            )
        frozen = credentials.get_frozen_credentials()
        env = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = frozen.token
        return env

    def caller_account(self, region: str) -> str:
        """Ask STS which account these credentials act in."""
        try:
            identity = self.client("sts", region).get_caller_identity()
        except NoCredentialsError:
            raise CredentialsError(
                f"no AWS credentials found ({self.label})",
                hint="configure credentials (AWS_PROFILE, environment variables, or "
                "GitHub OIDC via aws-actions/configure-aws-credentials)",
            ) from None
        except (ClientError, BotoCoreError) as error:
            raise AwsCallFailed(
                f"cannot identify the AWS account ({self.label}): {error}",
                hint="check that the credentials are valid and not expired",
            ) from None
        return str(identity["Account"])

    def account_id(self, region: str = "us-east-1") -> str:
        """The account these credentials act in: known when given (a role's ARN names its
        account), or when botocore resolved it with the credentials (AWS_ACCOUNT_ID, a
        profile's aws_account_id, an assumed role's, SSO's, a container's or an instance's
        credentials); else asked of STS, once. Apply and rollback always ask STS
        (caller_account): a destructive run proves the account."""
        if self._account_id is None:
            self._account_id = self._resolved_account() or self.caller_account(region)
        return self._account_id

    def _resolved_account(self) -> str | None:
        with self._lock:
            if self._session is None:
                self._session = self._make_session()
            credentials = self._session.get_credentials()
        if credentials is None:
            return None  # caller_account says so, with its hint
        account = credentials.get_frozen_credentials().account_id
        return str(account) if account else None
