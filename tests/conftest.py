"""Settings shared by the whole suite."""

from hypothesis import HealthCheck, settings

# Tests run in parallel on small machines: a slow example is not a failure.
settings.register_profile(
    "duckpond", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("duckpond")
