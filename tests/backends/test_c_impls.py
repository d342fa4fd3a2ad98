"""The C target's implementation tables and ISAs: every entry of every op's table, forced
with ``impl=``, agrees with the reference over its op's attribute grid, planned for the
generic C99 build and for this machine's ISA (``cpu="native"``); the builds of the other
ISAs compile (and run where this CPU has them); the GEMM convolution's packed weights
replace the plain ones; bad ``impl=`` / ``cpu=`` values are clear errors."""
import importlib
import shutil
import subprocess

import numpy as np
import pytest
from helpers import cases_graph, check_cases
from test_backend_fused_conv import ACTIVATIONS, CASES as FUSED_CASES, _attrs, _conv_out
from test_conv import CONV_CASES
from test_pool import CASES as POOL_CASES

import cnnc
from cnnc.backends import c as cb
from cnnc.backends import isa
from cnnc.ir import Graph, TensorType, all_ops

#: op -> its implementation names on the C target (ops whose "c" kernel is a table)
TABLES = {name: [i.name for i in op.kernels["c"]] for name, op in all_ops().items()
          if "c" in op.kernels and not callable(op.kernels["c"])}


def _randn(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_the_store_forms_are_the_activations_that_have_one():
    from cnnc.ops.activation import ACTIVATIONS
    assert set(STORE_FORMS) == {""} | {n for n, a in ACTIVATIONS.items() if a.store is not None}


def test_the_tables():
    assert TABLES["Conv"] == ["direct", "gemm", "gemm_padded", "gemm_t", "gemm_padded_t", "winograd_f2",
                              "winograd_f4", "depthwise"]
    assert TABLES["FusedConv"] == TABLES["Conv"]
    assert TABLES["Gemm"] == TABLES["MatMul"] == ["direct", "gemm"]
    assert TABLES["MaxPool"] == TABLES["AveragePool"] == ["direct", "rows"]
    assert TABLES["BlockedConv"] == ["nchwc"]
    assert TABLES["BlockedPool"] == ["blocked"]
    assert TABLES["LayoutTransform"] == ["gather", "blocks"]


def conv_cases(rng):
    out = []
    for xs, ws, attrs in CONV_CASES:
        w, b = _randn(rng, ws), _randn(rng, ws[0])
        out.append((_randn(rng, xs), [("Conv", [w], attrs), ("Conv", [w, b], attrs)]))
    return out


#: the activations with a store form (Activation.store: applied in the microkernel's store)
STORE_FORMS = ("", "Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish")
#: rows of at least a tile of pixels (the store epilogue of tiles inside one output row of
#: a padded-planes grid), with every store form (Clip with both bounds, or one), and both
#: residual orders
WIDE_FUSED = [((1, 8, 5, 70), (16, 8, 3, 3), {"pads": (1, 1, 1, 1)}),
              ((1, 3, 9, 75), (8, 3, 3, 3), {"pads": (0, 1, 0, 1), "strides": (2, 1)})]


def fused_cases(rng):
    out = []
    for xs, ws, window in WIDE_FUSED:
        w, b, z = _randn(rng, ws), _randn(rng, ws[0]), _randn(rng, _conv_out(xs, ws, window))
        nodes = [("FusedConv", [w, b] + ([z] if res else []), _attrs(window, act, res))
                 for act in STORE_FORMS for res in (None, "pre", "post")]
        nodes += [("FusedConv", [w, b], _attrs(window, "Clip", None, **bound)) for bound in ({"min": 0.0}, {"max": 0.25})]
        out.append((_randn(rng, xs), nodes))
    for i, (xs, ws, window) in enumerate(FUSED_CASES):
        w, b, z = _randn(rng, ws), _randn(rng, ws[0]), _randn(rng, _conv_out(xs, ws, window))
        combos = [(act, res) for j, act in enumerate(ACTIVATIONS) for res in (None, "pre", "post")
                  if (j + i) % 3 == 0 or res is None]
        out.append((2 * _randn(rng, xs), [("FusedConv", [w, b] + ([z] if res else []), _attrs(window, act, res))
                                          for act, res in combos]))
    return out


#: (A shape, B shape) of MatMul by a constant B: vectors, batched A, a broadcast batch of
#: ones on B, and sizes across the microkernel's tiles and reduction blocks
MATMUL_CASES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                ((1, 3, 4), (1, 4, 2)), ((9, 300), (300, 33)), ((2, 17, 70), (70, 65)), ((1, 600), (600, 40))]
#: Gemm: (M, K, N, transA, transB, alpha, beta, C shape or None)
GEMM_CASES = [(1, 37, 10, 0, 1, 1.0, 1.0, (10,)), (3, 5, 7, 0, 0, 1.0, 1.0, None),
              (4, 6, 3, 1, 0, 0.5, 2.0, (4, 1)), (2, 9, 40, 1, 1, 1.0, 0.25, (2, 40)),
              (9, 530, 33, 0, 1, 1.0, 1.0, (33,)), (1, 2100, 70, 0, 1, 1.0, 1.0, (1, 70))]


def matmul_cases(rng):
    return [(_randn(rng, a), [("MatMul", [_randn(rng, b)], {})]) for a, b in MATMUL_CASES]


def gemm_cases(rng):
    out = []
    for m, k, n, ta, tb, alpha, beta, cs in GEMM_CASES:
        a = _randn(rng, (k, m) if ta else (m, k))
        b = _randn(rng, (n, k) if tb else (k, n))
        consts = [b] + ([_randn(rng, cs)] if cs else [])
        out.append((a, [("Gemm", consts, {"transA": ta, "transB": tb, "alpha": alpha, "beta": beta})]))
    return out


#: windows of 1-D and 2-D pools (the rows plan's ranks; 3-D takes the direct kernel, as
#: test_backend_pool.py checks), with NaN and -inf inputs, wide maps and big strides
POOL_WINDOWS = [c for c in POOL_CASES if len(c[0]) <= 4] + [
    ((1, 3, 40, 75), {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ((2, 2, 13, 13), {"kernel_shape": (13, 13)}),
    ((1, 2, 9, 30), {"kernel_shape": (2, 5), "strides": (3, 4), "auto_pad": "SAME_UPPER", "ceil_mode": 1}),
    # stride 1, wide: the separable rows plan (row pass in place, dilated row taps)
    ((1, 3, 20, 37), {"kernel_shape": (5, 5), "pads": (2, 2, 2, 2), "dilations": (1, 2)}),
    ((1, 3, 20, 37), {"kernel_shape": (3, 4), "pads": (1, 0, 1, 2)})]


def pool_cases(op):
    extras = [{"count_include_pad": 0}, {"count_include_pad": 1}] if op == "AveragePool" else [{}]

    def cases(rng):
        out = []
        for i, (xs, attrs) in enumerate(POOL_WINDOWS):
            x = _randn(rng, xs)
            if i % 4 == 1 or i >= len(POOL_WINDOWS) - 2:
                x.flat[::7] = np.nan
                x.flat[3::11] = -np.inf
            out.append((x, [(op, [], {**attrs, **e}) for e in extras]))
        return out
    return cases


GRIDS = {"LayoutTransform": importlib.import_module("test_c_nchwc").layout_cases, "MaxPool": pool_cases("MaxPool"), "AveragePool": pool_cases("AveragePool"), "Conv": conv_cases, "FusedConv": fused_cases, "Gemm": gemm_cases, "MatMul": matmul_cases}
#: implementations that apply to part of their op's grid only -> the test module with their
#: own grid (and its tolerance): the Winograd plans (3x3, stride 1), the depthwise plan
OWN_GRIDS = {"winograd_f2": "test_c_winograd", "winograd_f4": "test_c_winograd", "depthwise": "test_c_depthwise",
             "nchwc": "test_c_nchwc", "blocked": "test_blocked_pool"}


@pytest.mark.parametrize("cpu", ["generic", "native", "x86-64-v3"])
@pytest.mark.parametrize("op,impl", [(op, impl) for op in sorted(TABLES) for impl in TABLES[op]])
def test_every_implementation_over_its_grid(rng, op, impl, cpu):
    """native is the machine's ISA (AVX-512 or AVX2 on x86); x86-64-v3 checks the AVX2 tile
    on an AVX-512 machine too."""
    if not isa.runs_here(isa.resolve(cpu)):
        pytest.skip(f"this CPU cannot run a {cpu} build")
    if impl in ("nchwc", "blocked") and isa.resolve(cpu).vector == 0:
        pytest.skip("the blocked conv and pool are written with GNU C vector extensions: generic C99 has no "
                    "blocked kernels (the layout pass blocks nothing there)")
    if impl in OWN_GRIDS:
        grid_cases = importlib.import_module(OWN_GRIDS[impl]).grid_cases
        check_cases(grid_cases(rng, op), impl={op: impl}, cpu=cpu, backend="c", rtol=1e-4, atol=1e-4)
        return
    check_cases(GRIDS[op](rng), impl={op: impl}, cpu=cpu, backend="c")


@pytest.mark.parametrize("impl", ["gemm", "gemm_padded", "gemm_t", "gemm_padded_t"])
def test_gemm_plans_are_sanitizer_clean(rng, tmp_path, impl):
    """Every GEMM plan's driver runs clean under ASan+UBSan over the wide FusedConv cases
    (partial tiles, the store epilogue, residuals, the padded planes' indirect rows)."""
    check_cases(fused_cases(rng)[:4], impl={"FusedConv": impl}, backend="c", tmp_path=tmp_path)


@pytest.mark.parametrize("impl", ["gemm", "gemm_padded", "gemm_t", "gemm_padded_t"])
def test_gemm_in_place_over_the_residual(rng, impl):
    """Y takes Z's buffer (the memory plan): the GEMM's epilogue reads each Z[i] before it
    writes Y[i], across reduction blocks (K = 64 * 9 > KC)."""
    from cnnc.passes.memory import plan_memory
    g = Graph("in_place")
    x = g.add_input("x", TensorType((1, 64, 9, 11)))
    w = [g.add_constant(_randn(rng, (16, 64, 3, 3)) * 0.1, f"w{j}") for j in range(2)]
    (z,) = g.add_node("Conv", [x, w[0]], {"pads": (1, 1, 1, 1)})
    (y,) = g.add_node("FusedConv", [x, w[1], g.add_constant(_randn(rng, 16), "b"), z],
                      {"pads": (1, 1, 1, 1), "activation": "Relu"})
    (out,) = g.add_node("Sigmoid", [y])
    g.add_output(out, "out")
    assert plan_memory(g.verify()).aliases.get(y) == z
    feeds = {"x": _randn(rng, (1, 64, 9, 11))}
    want = cnnc.compile(g).run(feeds)["out"]
    got = cnnc.compile(g, target="c", impl={"Conv": impl}).run(feeds)["out"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_generic_and_native_agree_on_a_model(rng):
    import cnnc.dsl as nn
    m = nn.Model("small_net")
    x = m.input("x", (1, 3, 20, 20))
    y = nn.conv(x, 16, 3, padding="same", activation="relu")
    y = nn.conv(y, 32, 3, stride=2, padding="same", activation="relu") + nn.conv(y, 32, 1, stride=2)
    m.output(nn.global_avg_pool(nn.conv(y, 8, 1)), "y")
    g = cnnc.optimize(m.build())
    feeds = {"x": _randn(rng, (1, 3, 20, 20))}
    outs = [cnnc.compile(g, target="c", cpu=cpu).run(feeds)["y"] for cpu in ("generic", "native")]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cpu", sorted(isa.CPUS))
def test_every_isa_build_compiles(tmp_path, rng, cpu):
    """Each ISA's build of the conv grid compiles warning-free (with a cross compiler for
    another architecture where one is installed), and runs where this CPU has the ISA."""
    target = isa.CPUS[cpu]
    cases = conv_cases(rng)[:4]
    if target.kind == "neon" and not isa.runs_here(target):
        cc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
        if cc is None or qemu is None:
            pytest.skip("the armv8-a build runs with an aarch64 cross compiler and qemu-user "
                        "(apt-get install gcc-aarch64-linux-gnu qemu-user; .ci/run installs them)")
        g, feeds = cases_graph(cases)
        folder = cb.generate(g, tmp_path / cpu, cpu=cpu, threads=2)
        exe = cb.build_exe(folder, cc=cc, flags=("-O2", "-static"))
        want = cnnc.compile(g).run(feeds)
        ins = [tmp_path / f"in{i}.bin" for i in range(len(feeds))]
        outs = [tmp_path / f"out{i}.bin" for i in range(len(want))]
        for path, name in zip(ins, g.input_types()):
            path.write_bytes(feeds[name].tobytes())
        subprocess.run([qemu, str(exe), *map(str, ins), *map(str, outs)], check=True, timeout=300,
                       env={"CNNC_THREADS": "2"})
        for path, (name, w) in zip(outs, want.items()):
            got = np.fromfile(path, np.float32).reshape(w.shape)
            np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-5, err_msg=name)
        return
    if isa.runs_here(target):
        check_cases(cases, cpu=cpu, backend="c")
        return
    g, _ = cases_graph(cases)
    folder = cb.generate(g, tmp_path / cpu, cpu=cpu)
    subprocess.run(["cc", "-std=c99", *cb.WARNINGS, "-O2", *target.cflags, "-c", "nodes.c", "-o", "nodes.o"],
                   cwd=folder, check=True)


def test_packed_weights_replace_the_plain_ones(tmp_path, rng):
    g = Graph("packed")
    x = g.add_input("x", TensorType((1, 8, 6, 6)))
    (y,) = g.add_node("Conv", [x, g.add_constant(_randn(rng, (12, 8, 3, 3)), "w")], {"pads": (1, 1, 1, 1)})
    g.add_output(y, "y")
    for impl, has_plain in (("gemm", False), ("direct", True)):
        src = (cb.generate(g, tmp_path / impl, weights="c", impl={"Conv": impl}) / "packed.c").read_text()
        assert ("packed_w_w[" in src) == has_plain and ("_packed1[" in src) == (not has_plain)


def test_bad_impl_and_cpu_are_clear_errors(rng):
    (x, nodes), = conv_cases(rng)[:1]
    g, _ = cases_graph([(x, nodes)])
    with pytest.raises(cnnc.CnncError, match="Conv has no implementation 'winograd' here; it has direct, gemm"):
        cnnc.compile(g, target="c", impl={"Conv": "winograd"})
    with pytest.raises(cnnc.CnncError, match="unknown op 'Konv'"):
        cnnc.compile(g, target="c", impl={"Konv": "gemm"})
    with pytest.raises(cnnc.CnncError, match="cpu must be native or one of generic, x86-64-v3"):
        cnnc.compile(g, target="c", cpu="pentium")
    g64, _ = cases_graph([(x.astype(np.float64), [(op, [a.astype(np.float64) for a in ops], attrs)
                                                  for op, ops, attrs in nodes])])
    with pytest.raises(cnnc.CnncError, match="implementation 'gemm' of Conv does not apply"):
        cnnc.compile(g64, target="c", impl={"Conv": "gemm"})
    relu, _ = cases_graph([(x, [("Relu", [], {})])])
    with pytest.raises(cnnc.CnncError, match="Relu has one implementation here"):
        cnnc.compile(relu, target="c", impl={"Relu": "fast"})


def test_armv8_light_model_under_qemu(tmp_path):
    """The NEON build of a light model (SqueezeNet), cross-compiled and run by qemu-user."""
    cc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
    if cc is None or qemu is None or isa.runs_here(isa.CPUS["armv8-a"]):
        pytest.skip("needs an aarch64 cross compiler and qemu-user on a non-aarch64 machine "
                    "(apt-get install gcc-aarch64-linux-gnu qemu-user; .ci/run installs them)")
    import warnings
    from test_c_model import LIGHT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = cnnc.optimize(cnnc.load_onnx(LIGHT / "light_squeezenet.onnx"))
    (name, t), = g.input_types().items()
    x = np.random.default_rng(0).standard_normal(t.shape).astype(np.float32)
    folder = cb.generate(g, tmp_path / "sq", cpu="armv8-a", threads=1)
    exe = cb.build_exe(folder, cc=cc, flags=("-O2", "-static"))
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    subprocess.run([qemu, str(exe), str(tmp_path / "x.bin"), str(tmp_path / "y.bin")], check=True, timeout=600)
    (oname, w), = cnnc.compile(g).run({name: x}).items()
    np.testing.assert_allclose(np.fromfile(tmp_path / "y.bin", np.float32).reshape(w.shape), w,
                               rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("impl", ["gemm", "gemm_padded", "gemm_t", "winograd_f2"])
def test_a_slot_for_every_worker(rng, impl):
    """The pool may hand any task to any worker, so a parallel kernel with fewer tasks than
    workers still has one scratch slot per worker (3 workers took a slot past the end of a
    2-task kernel's scratch before); and the results equal the serial ones."""
    from cnnc.ir import KernelRequest, get_op
    g = Graph("slots")
    x = g.add_input("x", TensorType((1, 3, 40, 40)))
    (y,) = g.add_node("Conv", [x, g.add_constant(_randn(rng, (2, 3, 3, 3)), "w")], {"pads": (1, 1, 1, 1)})
    g.add_output(y, "y")
    node = g.nodes()[-1]
    table = {i.name: i for i in get_op("Conv").kernels["c"]}
    for workers in (2, 3, 5):
        req = KernelRequest(node, [g.type_of(x), TensorType((2, 3, 3, 3))], list(node.types),
                            [None, g.constant(g.operands(node.name)[1])], isa.resolve("native"), workers)
        k = table[impl].plan(req)
        if k.params["tasks"] > 1:
            assert k.scratch_bytes >= workers * k.params["slot_bytes"], (workers, k.params["tasks"])
    feeds = {"x": _randn(rng, (1, 3, 40, 40))}
    outs = [cnnc.compile(g, target="c", impl={"Conv": impl}, threads=t).run(feeds)["y"] for t in (1, 3)]
    assert np.array_equal(outs[0], outs[1])


def test_transposed_tiles_fit_the_pixels():
    """The pixel panel of transposed tiles leaves few padded pixels: 7 rows for a 7x7 map
    (49 pixels: 7 tiles, none padded) on AVX-512's 8-row tile, 8 for 28x28."""
    from cnnc.ops._c_gemm import pixel_tile
    avx512, avx2 = isa.resolve("x86-64-v4"), isa.resolve("x86-64-v3")
    assert [pixel_tile(p, avx512) for p in (49, 196, 784, 64)] == [7, 7, 8, 8]
    assert pixel_tile(49, avx2) == 5 and pixel_tile(36, avx2) == 6
    for p in range(1, 300):
        r = pixel_tile(p, avx512)
        assert 5 <= r <= 8 and -(-p // r) * r - p < r


#: MatMul (A shape, B shape) with B a graph input: attention's batched products, broadcast
#: batches, a 1-D A, B of one matrix under a batched A, and K beyond a reduction block with
#: more panels than one task packs (B_RUN_BYTES)
RUNTIME_B_MATMULS = [((2, 3, 17, 9), (2, 3, 9, 40)), ((3, 1, 5, 70), (1, 4, 70, 33)), ((4,), (2, 4, 5)),
                     ((2, 5, 300), (300, 65)), ((9, 530), (530, 300)), ((1, 8, 33, 16), (1, 8, 16, 33))]


def _runtime_b_graph(rng):
    from helpers import add
    g, feeds = Graph("runtime_b"), {}
    for a, b in RUNTIME_B_MATMULS:
        add(g, feeds, "MatMul", [_randn(rng, a), _randn(rng, b)])
    add(g, feeds, "Gemm", [_randn(rng, (9, 530)), _randn(rng, (33, 530)), _randn(rng, (33,))],
        {"transB": 1, "alpha": 0.5, "beta": 2.0})
    add(g, feeds, "Gemm", [_randn(rng, (40, 7)), _randn(rng, (40, 70))], {"transA": 1})
    return g.verify(), feeds


@pytest.mark.parametrize("cpu", ["generic", "native"])
def test_gemm_with_b_at_run_time(rng, cpu):
    """MatMul and Gemm whose B is not a constant run on the microkernel (B packed per task at
    run time): the reference's outputs, and the same bits on 1 and 2 threads."""
    g, feeds = _runtime_b_graph(rng)
    want = cnnc.compile(g).run(feeds)
    runs = [cnnc.compile(g, target="c", cpu=cpu, threads=t, impl={"MatMul": "gemm", "Gemm": "gemm"}).run(feeds)
            for t in (1, 2)]
    for name in want:
        np.testing.assert_allclose(runs[0][name], want[name], rtol=1e-4, atol=1e-4, err_msg=name)
        np.testing.assert_array_equal(runs[1][name], runs[0][name], err_msg=name)


def test_gemm_with_b_at_run_time_is_sanitizer_clean(rng, tmp_path):
    from helpers import check_graph
    check_graph(*_runtime_b_graph(rng), tmp_path, rtol=1e-4, atol=1e-4, impl={"MatMul": "gemm", "Gemm": "gemm"})


def test_stride_one_pools_are_separable():
    """A 2-D window of stride 1 on the rows plan folds its row taps first (params hoff),
    then the column taps (koff: one per kernel row); a strided window folds every tap."""
    from cnnc.backends.codegen import collect_kernels
    g = Graph("pools")
    x = g.add_input("x", TensorType((1, 4, 20, 20)))
    for name, attrs in (("s1", {"kernel_shape": (5, 5), "pads": (2, 2, 2, 2)}),
                        ("s2", {"kernel_shape": (3, 3), "strides": (2, 2)})):
        (y,) = g.add_node("MaxPool", [x], attrs, label=name)
        g.add_output(y, name)
    plans = {n: k for n, _, k in collect_kernels(g.verify(), "c", impl={"MaxPool": "rows"})[1]}
    s1, s2 = (plans[n] for n in sorted(plans))
    assert s1.params["hoff"] == [1, 2, 3, 4] and s1.params["T"] == 5 and "separable" in s1.comment
    assert s2.params["hoff"] == [] and s2.params["T"] == 9
