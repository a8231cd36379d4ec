"""DuckPond: a small, local-first, transactional data lake for environmental time series."""

__version__ = "0.1.0"
