"""One client class (and service model) per AWS service for the clients of reclaim's
sessions.

botocore builds a new class for every client it creates: a method, with its docstring
object, per API operation (765 for EC2), which is most of the ~10 ms of CPU an EC2 client
costs. A fleet scan creates a client per (account, service, region), so 1,700
account-regions pay that 1,700 times per service for the same class. The class holds
nothing of the client's account, region or credentials (those live on the instance); what
shapes it is the service model and the ``creating-client-class`` handlers of the session.

The same holds for the parsed service model, whose per-operation models botocore's
endpoint discovery check builds, over every operation, for each client.

So for the boto3 sessions reclaim builds (generator.aws.session.new_session: one data
loader, boto3's handlers registered the same way on every one), marked by ``share_classes``,
the class of a service is built once per process and reused. A client of any other session
(a plain ``boto3.client``, a test's) is built as botocore builds it. If botocore's
ClientCreator no longer has the method this relies on, nothing is changed.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.client

_MARK = "_reclaim_shares_client_classes"
_classes: dict[tuple[str, str], type] = {}
_models: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()
_installing = threading.Lock()


def share_classes(session: boto3.Session) -> boto3.Session:
    """Let ``session``'s clients share one class per service with the other marked
    sessions: call it once boto3 has registered its handlers (they shape the class)."""
    _install()
    emitter = session._session.get_component("event_emitter")
    setattr(emitter, _MARK, True)
    return session


def _install() -> None:
    with _installing:
        _wrap(botocore.client.ClientCreator)


def _wrap(creator: Any) -> None:
    original = getattr(creator, "_create_client_class", None)
    if original is None or getattr(original, "_reclaim_shared", False):
        return

    def create_client_class(self: Any, service_name: str, service_model: Any) -> type:
        if not getattr(getattr(self, "_event_emitter", None), _MARK, False):
            return original(self, service_name, service_model)  # type: ignore[no-any-return]
        key = (service_name, str(service_model.api_version))
        with _lock:
            cls = _classes.get(key)
            if cls is None:
                cls = _classes[key] = original(self, service_name, service_model)
        return cls

    create_client_class._reclaim_shared = True  # type: ignore[attr-defined]
    creator._create_client_class = create_client_class
    _share_models(creator)


def _share_models(creator: Any) -> None:
    """The parsed service model too: its per-operation models (built by the endpoint
    discovery check, over every operation, for each client) are then built once."""
    original = getattr(creator, "_load_service_model", None)
    if original is None:
        return

    def load_service_model(self: Any, service_name: str, api_version: Any = None) -> Any:
        if not getattr(getattr(self, "_event_emitter", None), _MARK, False):
            return original(self, service_name, api_version)
        key = (service_name, str(api_version))
        with _lock:
            model = _models.get(key)
            if model is None:
                model = _models[key] = original(self, service_name, api_version)
        return model

    creator._load_service_model = load_service_model
