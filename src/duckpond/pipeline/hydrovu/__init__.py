"""The HydroVu collector: In-Situ's cloud API -> one wide series per device.

``client`` speaks the API (OAuth2, paging, retries), ``rows`` turns readings
pages into wide Arrow rows, ``collect`` fetches every device concurrently and
returns tables for the pipeline to write in one transaction per run.
"""

# Here rather than in ``client`` so that the kind's spec can name it without importing httpx.
DEFAULT_BASE_URL = "https://www.hydrovu.com/public-api/"
