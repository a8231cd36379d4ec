"""The static web site: pages and charts of downsampled series, built from Arrow tables.

A site is a folder of plain files that any static web server can serve under any base
URL, and that a browser can open straight from disk (``file://``): every link is
relative, and chart data ships as small JavaScript files that register themselves
(``<script>`` tags load on ``file://`` where ``fetch()`` of JSON is blocked).

Layout of a built site::

    index.html                 sites, parameters and pages, with the user's index.md on top
    sites/<site>.html          one page per matched series: a chart per parameter
    params/<param>.html        one page per parameter: its chart for every site
    pages/<name>.html          the user's Markdown pages
    assets/vega-<v>.js         the Vega library, from the vl-convert-python package
    assets/chart.js, site.css  DuckPond's chart and page code (templates/static/)
    data/<chart>/<res>/<k>.js  chunk k of one chart's series at resolution res

The chart library is Vega, from ``vl-convert-python``'s bundle, chosen on weight.
Measured here (library files as their PyPI packages ship them): Plotly's
``plotly.min.js`` is 4.8 MB (1.5 MB gzipped), over the 2 MB first-view budget on its own
and on ``file://``, where nothing is compressed; BokehJS's ``bokeh.min.js`` is 1.27 MB
(0.35 MB gzipped) and its Python package pulls numpy, pillow, contourpy, narwhals and
tornado; vl-convert-python bundles Vega alone in 0.59 MB (0.90 MB with Vega-Lite and
vega-embed, 0.30 MB gzipped) and has no Python dependencies (its wheel is large, 33 MB,
as it carries a JavaScript engine, but that is install weight, not page weight). A chart
page's first view is then about 0.6 MB of script plus its data (see bench/bench_site.py).

Each resolution of a chart is cut into chunks of at most ``CHUNK_POINTS`` buckets,
aligned to the epoch; the page picks the finest resolution that shows the visible range
in at most ``MAX_POINTS`` points (and at most three per pixel of the plot's width, so a
phone gets a coarser one) and loads only the chunks that overlap it, so a view never
loads more than a few thousand points per series.
"""

from __future__ import annotations

from duckpond.pipeline.site.build import (
    CHUNK_POINTS,
    MAX_POINTS,
    BuildReport,
    ChartGroup,
    MarkdownPage,
    SeriesData,
    SiteOptions,
    build_site,
    parse_resolution,
    read_markdown_page,
)

__all__ = [
    "CHUNK_POINTS",
    "MAX_POINTS",
    "BuildReport",
    "ChartGroup",
    "MarkdownPage",
    "SeriesData",
    "SiteOptions",
    "build_site",
    "parse_resolution",
    "read_markdown_page",
]
