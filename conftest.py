"""Root conftest: Hypothesis profiles. The harness fixtures come from the ``s3pipe`` pytest plugin."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]  # harness plugin tests run pytest inside pytest

# dev: quick local runs; ci: more examples, derandomised so CI failures reproduce exactly.
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
