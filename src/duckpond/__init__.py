"""DuckPond: a small, local-first, transactional data lake for environmental time series.

from duckpond import Pond
pond = Pond.open("~/pond")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import PondError

if TYPE_CHECKING:
    from .pond import Pond

__version__ = "0.1.0"

__all__ = ["Pond", "PondError", "__version__"]


def __getattr__(name: str) -> Any:
    # ``Pond`` on first use: ``pond --help`` and the CLI's parsing need none of it.
    if name == "Pond":
        from .pond import Pond

        return Pond
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
