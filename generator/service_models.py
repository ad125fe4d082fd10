"""botocore's service models, read from disk once per process.

Neutral (imports nothing else of reclaim): every boto3 session reclaim builds
(generator.aws.session) and the IAM action names (generator.iam.actions) share this one
data loader, so a model (EC2's is megabytes of JSON) is parsed once however many use it.

botocore's loader caches what it has read, but not what it is reading: a fleet scan's
threads creating their first clients at once each listed every service's data directory
and parsed the same models (16 threads: ~1 s of CPU for one scan of 40 account-regions).
The shared loader reads one thing at a time; the others wait, then find it cached.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.loaders

_loader_lock = threading.Lock()
_shared_loader: Any = None


class _OneReadAtATime(botocore.loaders.Loader):  # type: ignore[misc]
    """botocore's Loader whose cached reads are made by one thread at a time."""

    def __init__(self) -> None:
        super().__init__()
        self._reading = threading.RLock()  # reentrant: a model load lists the services

    def list_available_services(self, *args: Any, **kwargs: Any) -> Any:
        with self._reading:
            return super().list_available_services(*args, **kwargs)

    def determine_latest_version(self, *args: Any, **kwargs: Any) -> Any:
        with self._reading:
            return super().determine_latest_version(*args, **kwargs)

    def load_service_model(self, *args: Any, **kwargs: Any) -> Any:
        with self._reading:
            return super().load_service_model(*args, **kwargs)

    def load_data_with_path(self, *args: Any, **kwargs: Any) -> Any:
        with self._reading:
            return super().load_data_with_path(*args, **kwargs)


def shared_loader() -> Any:
    global _shared_loader
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = _OneReadAtATime()
        return _shared_loader
