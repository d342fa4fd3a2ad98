"""The CUDA target's implementation table of the conv family (``ops/_cuda_conv.py``): each
entry, forced with ``impl=``, agrees with the reference over the Conv and FusedConv grids
of the C target's test (run by the CPU emulator: the generated .cu built with g++ -- NOT a
GPU run); the choice is made in Python, per layer, and the templates receive parameters
made for the GPU, not the C kernels' plan."""
import numpy as np
import pytest
from helpers import check_cases
from test_c_impls import conv_cases, fused_cases

import cnnc
from cnnc.backends import cuda
from cnnc.backends.codegen import collect_kernels
from cnnc.ir import CnncError, Graph, TensorType, all_ops

CUDA_TABLES = {name: [i.name for i in op.kernels["cuda"]] for name, op in all_ops().items()
               if "cuda" in op.kernels and not callable(op.kernels["cuda"])}


def test_the_tables():
    assert CUDA_TABLES["Conv"] == CUDA_TABLES["FusedConv"] == ["direct", "implicit_gemm"]
    assert CUDA_TABLES["LocalConv"] == CUDA_TABLES["TiledConv"] == ["direct"]


@pytest.mark.parametrize("op,impl", [(op, i) for op in ("Conv", "FusedConv") for i in CUDA_TABLES[op]])
def test_every_cuda_implementation_over_its_grid(rng, op, impl):
    grid = conv_cases(rng) if op == "Conv" else fused_cases(rng)
    check_cases(grid, impl={op: impl}, backend="cuda-emu", rtol=1e-4, atol=1e-4)


def _plan(g):
    return {n: k for n, _, k in collect_kernels(g, ("cuda", "c"), portable_only=True)[1]}


def _conv_graph(c, m, group, rng, inf=False):
    g = Graph("pick")
    x = g.add_input("x", TensorType((1, c, 12, 12)))
    w = rng.standard_normal((m, c // group, 3, 3)).astype(np.float32)
    w[0, 0, 0, 0] = np.inf if inf else w[0, 0, 0, 0]
    w = g.add_constant(w, "w")
    (y,) = g.add_node("Conv", [x, w], {"pads": (1, 1, 1, 1), "group": group}, label="conv")
    g.add_output(y, "y")
    return g.verify()


def test_the_algorithm_is_chosen_in_python(rng):
    """A depthwise conv takes the direct kernel, a 64-channel one the implicit GEMM; an Inf
    weight next to padding cannot take the GEMM (it would multiply 0 * Inf); the kernels'
    parameters are the GPU's (no C plan's interior/border columns)."""
    dw = _plan(_conv_graph(32, 32, 32, rng))["conv"]
    dense = _plan(_conv_graph(64, 64, 1, rng))["conv"]
    assert dw.template == "cuda/kernels/conv_direct.cu.j2"
    assert dense.template == "cuda/kernels/conv_igemm.cu.j2"
    assert not {"interior", "nblocks", "nedge", "block"} & set(dense.params)
    g = _conv_graph(64, 64, 1, rng, inf=True)
    assert _plan(g)["conv"].template == "cuda/kernels/conv_direct.cu.j2"
    with pytest.raises(CnncError, match="does not apply"):
        collect_kernels(g, ("cuda", "c"), portable_only=True, impl={"Conv": "implicit_gemm"})


def test_a_c_only_implementation_is_refused_on_cuda(rng, tmp_path):
    with pytest.raises(CnncError, match="has no implementation 'winograd_f4' here; it has direct, implicit_gemm"):
        cuda.generate(_conv_graph(8, 8, 1, rng), tmp_path, impl={"Conv": "winograd_f4"})
