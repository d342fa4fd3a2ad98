"""The CUDA kernel of Gemm and MatMul (templates/cuda/kernels/gemm.cu.j2, the conv's tiled
GEMM) agrees with the reference, run by the CPU emulator (backend "cuda-emu", NOT a GPU
run), over the cases of tests/backends/test_c_dense.py -- every transA/transB, every
broadcast shape of C, alpha/beta scaling; MatMul with 1-D operands and broadcast batch
axes, float32 and float64 -- plus sizes spanning several 64x64x16 tiles with partial ones
(each operand layout staged along its contiguous axis) and a long K (double sums).  Each
grid is one build (``helpers.check_cases``); nvcc compiles these kernels in
test_cuda_conv.py's kernel-variant test."""
import numpy as np
from helpers import check_cases
from test_c_dense import C_SHAPES, K, M, MATMUL_SHAPES, N, SCALES

EMU = "cuda-emu"


def test_gemm_cuda_emu(rng):
    """Every (transA, transB) x (every C shape, and every scaling with a full C): 36 nodes,
    one build (the scaling is the epilogue's alone, whatever C's shape)."""
    combos = [(c, SCALES[0]) for c in C_SHAPES] + [((M, N), scales) for scales in SCALES[1:]]
    cases = []
    for ta in (0, 1):
        for tb in (0, 1):
            nodes = []
            for c_shape, scales in combos:
                b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
                c = [] if c_shape is None else [rng.standard_normal(c_shape).astype(np.float32)]
                nodes.append(("Gemm", [b] + c, {"transA": ta, "transB": tb, **scales}))
            cases.append((rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32), nodes))
    check_cases(cases, backend=EMU, rtol=1e-5, atol=1e-6)


def test_matmul_cuda_emu(rng):
    """MatMul over the broadcast/1-D shapes of the C tests, float32 and float64."""
    check_cases([(rng.standard_normal(a).astype(dtype), [("MatMul", [rng.standard_normal(b).astype(dtype)], {})])
                 for dtype in (np.float32, np.float64) for a, b in MATMUL_SHAPES], backend=EMU, rtol=1e-5, atol=1e-6)


def test_dense_cuda_emu_tiles_and_long_inner_dimension(rng):
    """M, N, K spanning several tiles with partial last ones, each layout of A' and B'
    (transA, transB), a batched MatMul with a broadcast batch axis; K = 3000 (beyond
    LONG_REDUCTION: double sums)."""
    a = rng.standard_normal((70, 150)).astype(np.float32)
    at = rng.standard_normal((150, 70)).astype(np.float32)
    check_cases([
        (a, [("Gemm", [rng.standard_normal((150, 130)).astype(np.float32),
                       rng.standard_normal(130).astype(np.float32)], {"alpha": 0.5}),
             ("Gemm", [rng.standard_normal((65, 150)).astype(np.float32)], {"transB": 1}),
             ("MatMul", [rng.standard_normal((3, 150, 66)).astype(np.float32)], {})]),
        (at, [("Gemm", [rng.standard_normal((129, 150)).astype(np.float32),
                        rng.standard_normal((70, 1)).astype(np.float32)], {"transA": 1, "transB": 1, "beta": -1.0}),
              ("Gemm", [rng.standard_normal((150, 17)).astype(np.float32)], {"transA": 1})]),
        (rng.standard_normal((4, 3000)).astype(np.float32),
         [("MatMul", [rng.standard_normal((3000, 6)).astype(np.float32)], {}),
          ("Gemm", [rng.standard_normal((5, 3000)).astype(np.float32)], {"transB": 1})]),
    ], backend=EMU, rtol=1e-4, atol=1e-4)
