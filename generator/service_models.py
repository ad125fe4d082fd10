"""botocore's service models, read from disk once per process.

Neutral (imports nothing else of reclaim): every boto3 session reclaim builds
(generator.aws.session) and the IAM action names (generator.iam.actions) share this one
data loader, so a model (EC2's is megabytes of JSON) is parsed once however many use it.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.loaders

_loader_lock = threading.Lock()
_shared_loader: Any = None


def shared_loader() -> Any:
    global _shared_loader
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = botocore.loaders.create_loader()
        return _shared_loader
