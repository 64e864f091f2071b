"""Property tests (Hypothesis) of the pure functions: indicators, drift, checkpoints, audit chain.

Every test runs under PROPERTIES: derandomized, so CI and a laptop try the
same examples in the same order and a failure is reproducible from the test
name alone; no example database (nothing is written into the tree); no
deadline (timings on shared CI cores say nothing about the functions).
"""

from hypothesis import settings

PROPERTIES = settings(max_examples=50, derandomize=True, database=None, deadline=None)
