"""DuckPond: a small, local-first, transactional data lake for environmental time series.

from duckpond import Pond
pond = Pond.open("~/pond")
"""

from .errors import PondError
from .pond import Pond

__version__ = "0.1.0"

__all__ = ["Pond", "PondError", "__version__"]
