import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py
# the backend tests reuse the attribute grids of tests/ops (``from test_conv import CONV_CASES``)
sys.path.insert(1, str(Path(__file__).parent / "ops"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
