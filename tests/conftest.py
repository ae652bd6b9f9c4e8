"""Shared test fixtures."""

import numpy as np
import pytest


@pytest.fixture
def reseed_global_numpy():
    """``reseed(seed)``: put numpy's legacy global generator in a seed-dependent state, to show
    a result does not depend on it (the library must draw only from generators passed in).
    The global state is restored afterwards."""
    saved = np.random.get_state()  # noqa: NPY002

    def reseed(seed: int) -> None:
        np.random.seed(seed)  # noqa: NPY002
        np.random.random(seed % 7)  # noqa: NPY002

    yield reseed
    np.random.set_state(saved)  # noqa: NPY002
