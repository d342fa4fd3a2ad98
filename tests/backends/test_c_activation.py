"""C kernels of the activations agree with the reference, float32 and float64, with and
without broadcasting (PRelu)."""
import numpy as np
import pytest
from helpers import backend_check

CASES = [("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.7}), ("Selu", {}),
         ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}),
         ("Silu", {}), ("Tanh", {}), ("Softplus", {}), ("Softsign", {}), ("Mish", {}),
         ("Gelu", {}), ("Gelu", {"approximate": "tanh"}), ("Clip", {"min": -0.5, "max": 2.0}),
         ("Clip", {"min": 0.0}), ("Clip", {})]


@pytest.mark.parametrize("op,attrs", CASES)
def test_activation_c(rng, op, attrs):
    x = (rng.standard_normal((2, 3, 5)) * 4).astype(np.float32)
    x[0, 0, :3] = [-90.0, 90.0, 0.0]   # saturating ends
    backend_check(op, [x], attrs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Relu", "Sigmoid", "Gelu", "Softplus"])
def test_activation_c_float64(rng, op):
    backend_check(op, [rng.standard_normal((4, 7))], {}, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xs,ss", [((2, 3, 4, 4), (3, 1, 1)), ((2, 3, 4), (1,)), ((5, 3), (3,))])
def test_prelu_c(rng, xs, ss):
    backend_check("PRelu", [rng.standard_normal(xs).astype(np.float32),
                            rng.standard_normal(ss).astype(np.float32)], const=[1])
