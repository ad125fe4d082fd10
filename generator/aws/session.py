"""boto3 sessions and clients: standard credentials, AWS_ENDPOINT_URL, adaptive retries."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from generator import __version__
from generator.errors import AwsCallFailed

RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    user_agent_extra=f"reclaim/{__version__}",
)


class AccountSession:
    """Clients for one AWS account. boto3 sessions are not thread-safe, so each thread gets
    its own session built from the same credentials."""

    def __init__(self, make_session: Any = None, *, label: str = "ambient credentials") -> None:
        self._make_session = make_session or boto3.Session
        self._local = threading.local()
        self.label = label
        self._account_id: str | None = None

    def _session(self) -> boto3.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._make_session()
            self._local.session = session
        return session

    def client(self, service: str, region: str) -> Any:
        cache: dict[tuple[str, str], Any] = self._local.__dict__.setdefault("clients", {})
        key = (service, region)
        if key not in cache:
            cache[key] = self._session().client(service, region_name=region, config=RETRY_CONFIG)
        return cache[key]

    def account_id(self, region: str = "us-east-1") -> str:
        if self._account_id is None:
            try:
                identity = self.client("sts", region).get_caller_identity()
            except NoCredentialsError:
                raise AwsCallFailed(
                    f"no AWS credentials found ({self.label})",
                    hint="configure credentials (AWS_PROFILE, environment variables, or "
                    "GitHub OIDC via aws-actions/configure-aws-credentials)",
                ) from None
            except (ClientError, BotoCoreError) as error:
                raise AwsCallFailed(
                    f"cannot identify the AWS account ({self.label}): {error}",
                    hint="check that the credentials are valid and not expired",
                ) from None
            self._account_id = str(identity["Account"])
        return self._account_id
