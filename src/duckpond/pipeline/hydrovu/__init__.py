"""The HydroVu collector: In-Situ's cloud API -> one wide series per device.

``client`` speaks the API (OAuth2, paging, retries), ``rows`` turns readings
pages into wide Arrow rows, ``collect`` fetches every device concurrently and
returns tables for the pipeline to write in one transaction per run.
"""
