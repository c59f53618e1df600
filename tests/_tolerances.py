"""Tolerances used by every test (STYLE.md §5): topology is compared exactly."""
RTOL = {"float64": 1e-12, "float32": 1e-5}
ATOL = {"float64": 1e-12, "float32": 1e-5}
FD_RTOL = 1e-6
