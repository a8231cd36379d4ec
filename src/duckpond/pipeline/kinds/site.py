"""``Site``: the static web site publisher; it lives in ``duckpond.pipeline.site.kind``."""

from __future__ import annotations

from ..site.kind import SITE, SiteSpec, run_site

__all__ = ["SITE", "SiteSpec", "run_site"]
