"""A Backup resource's store from its spec's fields as stored, without pydantic.

``fields`` is a Backup spec as the pond stores it (``BackupSpec.model_dump(mode="json")``):
``url``, and optionally ``endpoint``, ``region`` (a literal or an ``${env:...}``
reference), ``access_key_id``, ``secret_access_key`` (references only) and
``allow_http``.  References are resolved here, when the store is made; their values
are used, never kept.  ``pipeline.kinds.backup`` builds its stores through this, and so
does a push that read the spec from the pond's cache of it (``duckpond.pond.backups``),
which must not pay pydantic's import for a small push.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .secretref import SecretRef

if TYPE_CHECKING:
    from ..backup import Remote


def _value(text: Any, field: str) -> str | None:
    """A literal, or the value of an ``${env:...}`` reference (else its default).

    Not a secret (an endpoint, a region): its value is not masked in messages, and an
    unset variable is named as the field's, not as a secret's.  Raises ``ConfigError``.
    """
    if text is None:
        return None
    literal = str(text)
    if not literal.strip().startswith("${env:"):
        return literal
    ref = SecretRef.parse(literal)
    value = os.environ.get(ref.env, ref.default)
    if value is None:
        raise ConfigError(
            f"{field} {ref.text} is not set: export the environment variable {ref.env}"
        )
    return value


def _secret(text: Any) -> str | None:
    return None if text is None else SecretRef.parse(str(text)).resolve().reveal()


def backup_remote(fields: Mapping[str, Any], *, create: bool = False) -> Remote:
    """The store the spec ``fields`` name, references resolved now.

    Raises ``ConfigError`` for a reference whose variable is unset (or a URL that cannot
    name a store), ``ValueError`` for a secret field holding a literal.
    """
    from ..backup import Remote
    from ..tlogfs.objectstore import StoreOptions

    allow_http = fields.get("allow_http")
    options = StoreOptions(
        endpoint=_value(fields.get("endpoint"), "endpoint"),
        region=_value(fields.get("region"), "region"),
        access_key_id=_secret(fields.get("access_key_id")),
        secret_access_key=_secret(fields.get("secret_access_key")),
        allow_http=None if allow_http is None else bool(allow_http),
    )
    return Remote(str(fields["url"]), options, create=create)
