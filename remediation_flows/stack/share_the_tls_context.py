"""Imported by the flow runs' forkserver (stack/warm_start.py): a run's Prefect clients share one TLS context.

Prefect 3.8.8 gives every API client it creates a new ``ssl.create_default_context(cafile=...)`` (its
PREFECT_API_SSL_CERT_FILE, else certifi's bundle), whether the API is https or not; each one reads and
parses some 150 certificates, 22 to 30 ms on these machines, and a run creates several clients (its
context, its result store, its lease renewal). Profiled inside the lifecycle's runs, it was about an
eighth of each run's time.

Here the context for that file is built once, in the server, and every fork starts with it. Only
Prefect's client module sees the change, and only for a call that names a CA file and nothing else;
any other context (the insecure one, the mail transport's) is built as before. One verified context
serves any number of connections; Prefect and httpx read it and never change it (neither loads a
client certificate into it).
"""

from __future__ import annotations

import ssl
import types
from typing import Any

import certifi
import prefect.client.orchestration
from prefect.settings import PREFECT_API_SSL_CERT_FILE

_SHARED: dict[str, ssl.SSLContext] = {}


def _create_default_context(*args: Any, **kwargs: Any) -> ssl.SSLContext:
    cafile = kwargs.get("cafile")
    if args or set(kwargs) != {"cafile"} or not isinstance(cafile, str):
        return ssl.create_default_context(*args, **kwargs)
    if cafile not in _SHARED:
        _SHARED[cafile] = ssl.create_default_context(cafile=cafile)
    return _SHARED[cafile]


# Built now, in the server: the file Prefect's clients will name.
_create_default_context(cafile=PREFECT_API_SSL_CERT_FILE.value() or certifi.where())

#: The ssl module as Prefect's client module sees it: the same, but for that one call.
_seen_by_prefect = types.SimpleNamespace(**{name: getattr(ssl, name) for name in dir(ssl) if name[0] != "_"})
_seen_by_prefect.create_default_context = _create_default_context
prefect.client.orchestration.ssl = _seen_by_prefect  # type: ignore[attr-defined]
