"""The third-party actions the generated workflows use, pinned by full commit SHA.

A tag can be moved; a commit cannot. Each SHA is what the tag resolved to on GitHub's runners
(the "Download action repository 'owner/name@tag' (SHA:...)" line of real job logs), checked
against independent pins of the same release. Update a pin by resolving the new tag to its
commit (``git ls-remote https://github.com/OWNER/NAME refs/tags/vX.Y.Z``) and re-running
``reclaim init``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PinnedAction:
    repository: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        return f"{self.repository}@{self.sha} # {self.version}"


CHECKOUT = PinnedAction("actions/checkout", "34e114876b0b11c390a56381ad16ebd13914f8d5", "v4.3.1")
SETUP_PYTHON = PinnedAction(
    "actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"
)
UPLOAD_ARTIFACT = PinnedAction(
    "actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"
)
DOWNLOAD_ARTIFACT = PinnedAction(
    "actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"
)
CONFIGURE_AWS_CREDENTIALS = PinnedAction(
    "aws-actions/configure-aws-credentials", "7474bc4690e29a8392af63c5b98e7449536d5c3a", "v4.3.1"
)
UPLOAD_SARIF = PinnedAction(
    "github/codeql-action/upload-sarif", "5d4e8d1aca955e8d8589aabd499c5cae939e33c7", "v4.31.9"
)
SETUP_TERRAFORM = PinnedAction(
    "hashicorp/setup-terraform", "dfe3c3f87815947d99a8997f908cb6525fc44e9e", "v4.0.1"
)

ACTIONS: dict[str, PinnedAction] = {
    "checkout": CHECKOUT,
    "setup_python": SETUP_PYTHON,
    "upload_artifact": UPLOAD_ARTIFACT,
    "download_artifact": DOWNLOAD_ARTIFACT,
    "configure_aws_credentials": CONFIGURE_AWS_CREDENTIALS,
    "upload_sarif": UPLOAD_SARIF,
    "setup_terraform": SETUP_TERRAFORM,
}
