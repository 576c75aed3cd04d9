"""Test-wide settings: hypothesis profiles (``ci`` is the one CI and nox use)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Examples per property are set on each test (>= 200 for the invariants); the profile only
# removes the deadline, which flakes on a loaded 2-core machine, and prints the seed on failure.
settings.register_profile(
    "ci", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("dev")
