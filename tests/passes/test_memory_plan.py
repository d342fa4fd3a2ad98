"""Memory planning: hand-made graphs with known optimal arenas, in-place and view rules,
random graphs (no live buffers overlap, arena >= lower bound), and the proof that a plan is
right: running a graph with every planned value stored at its offset in ONE byte arena
(dead buffers poisoned with NaN bytes) gives the reference outputs."""
import functools
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import random_feeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnc
from cnnc.ir import CnncError, Graph, TensorType, Value, VerifyError, get_op
from cnnc.passes import LEVELS, PASSES
from cnnc.passes.memory import Buffer, plan_memory

LIGHT = Path(onnx.__file__).parent / "backend/test/data/light"
F32 = 4


# ---------------------------------------------------------------- the arena simulation
def run_in_arena(g: Graph, plan, feeds) -> dict[str, np.ndarray]:
    """Run ``g`` node by node in ``plan.order`` with every planned value living in one
    byte arena at its planned offset; a buffer's bytes become NaN once it is dead."""
    arena = np.full(plan.arena_bytes, 0xFF, np.uint8)

    def at(v: Value) -> np.ndarray:
        t, off = g.type_of(v), plan.offsets[v]
        return arena[off:off + t.nbytes].view(t.dtype).reshape(t.shape)

    env = {v: feeds[label] for v, label in zip(g.inputs, g.input_types())}
    dies = {}
    for b in plan.buffers:
        dies.setdefault(b.end, []).append(b)
    for t, name in enumerate(plan.order):
        node = g.node(name)
        args = [at(v) if v in plan.offsets else env[v] if v in env else g.constant(v)
                for v in g.operands(name)]
        for port, out in enumerate(get_op(node.op).run(args, node.attrs)):
            v = Value(name, port)
            if v in plan.offsets:
                at(v)[...] = out
            else:
                env[v] = np.array(out, copy=True)
        for b in dies.get(t, ()):
            arena[b.offset:b.offset + b.nbytes] = 0xFF
    return {label: np.array(at(v) if v in plan.offsets else env[v]) for label, v in g.outputs}


def assert_runs_in_arena(g: Graph, plan, seed: int = 0) -> None:
    feeds = random_feeds(g, np.random.default_rng(seed))
    want = cnnc.compile(g).run(feeds)
    got = run_in_arena(g, plan, feeds)
    for label in want:
        np.testing.assert_allclose(got[label], want[label], rtol=1e-5, atol=1e-6, err_msg=label)


def checked(g: Graph, **options):
    plan = plan_memory(g, **options).validate()
    assert plan.lower_bound_bytes <= plan.arena_bytes <= plan.naive_bytes
    assert_runs_in_arena(g, plan)
    return plan


# ---------------------------------------------------------------- small graphs
def conv(g: Graph, x: Value, m: int, label: str) -> Value:
    c = g.type_of(x).shape[1]
    w = g.add_constant(np.random.default_rng(m).standard_normal((m, c, 1, 1)).astype(np.float32))
    return g.add_node("Conv", [x, w], {"kernel_shape": (1, 1)}, label=label)[0]


def unary_chain(op: str, n: int, shape=(1, 4, 4, 4)) -> Graph:
    g = Graph(f"{op}_chain")
    x = g.add_input("x", TensorType(shape))
    for i in range(n):
        x = conv(g, x, shape[1], f"l{i}") if op == "Conv" else g.add_node(op, [x], label=f"l{i}")[0]
    g.add_output(x, "y")
    return g


def test_chain_reuses_two_buffers():
    g = unary_chain("Conv", 5)                       # 4 intermediates of 256 bytes, output outside
    plan = checked(g)
    assert (plan.arena_bytes, plan.lower_bound_bytes, plan.naive_bytes) == (512, 512, 4 * 256)
    assert sorted(set(plan.offsets.values())) == [0, 256] and not plan.aliases
    assert plan.order == tuple(n.name for n in g.nodes() if n.op == "Conv")


def test_relu_chain_runs_in_place():
    g = unary_chain("Relu", 5)
    plan = checked(g)
    assert (plan.arena_bytes, plan.lower_bound_bytes, plan.naive_bytes) == (256, 256, 4 * 256)
    (buf,) = plan.buffers
    assert buf.values == tuple(Value(f"l{i}") for i in range(4)) and (buf.start, buf.end) == (0, 4)
    assert plan.aliases == {Value(f"l{i}"): Value(f"l{i - 1}") for i in range(1, 4)}
    assert Value("x") not in plan.offsets           # graph inputs are never overwritten
    off = checked(g, in_place=False)
    assert off.arena_bytes == 512 and not off.aliases


def diamond() -> Graph:
    """a(512 B) feeds b and c (256 B each), d = b + c, y = conv(d)."""
    g = Graph("diamond")
    x = g.add_input("x", TensorType((1, 2, 4, 4)))
    a = conv(g, x, 8, "a")
    b, c = conv(g, a, 4, "b"), conv(g, a, 4, "c")
    d = g.add_node("Add", [b, c], label="d")[0]
    g.add_output(conv(g, d, 2, "e"), "y")
    return g


def test_diamond():
    plan = checked(diamond(), in_place=False)        # a, b, c live together at c
    assert (plan.arena_bytes, plan.lower_bound_bytes, plan.naive_bytes) == (1024, 1024, 1280)
    assert plan.offsets[Value("d")] == plan.offsets[Value("a")] == 0   # d reuses dead a
    plan = checked(diamond())
    assert plan.aliases == {Value("d"): Value("b")}  # b dies at the Add
    assert (plan.arena_bytes, plan.lower_bound_bytes) == (1024, 1024)


def test_concat_needs_its_operands_and_result_at_once():
    g = Graph("concat")
    x = g.add_input("x", TensorType((1, 2, 4, 4)))
    a, b = conv(g, x, 4, "a"), conv(g, x, 2, "b")
    c = g.add_node("Concat", [a, b], {"axis": 1}, label="c")[0]
    g.add_output(conv(g, conv(g, c, 4, "d"), 2, "e"), "y")
    plan = checked(g)
    assert (plan.arena_bytes, plan.lower_bound_bytes, plan.naive_bytes) == (768, 768, 1024)
    assert not plan.aliases
    assert plan.offsets[Value("d")] in (plan.offsets[Value("a")], plan.offsets[Value("b")])


def test_in_place_only_when_the_operand_dies():
    g = Graph("later_use")
    x = g.add_input("x", TensorType((1, 4, 4, 4)))
    a = g.add_node("Sigmoid", [x], label="a")[0]
    r = g.add_node("Relu", [a], label="r")[0]        # a is read again below: no in place
    s = g.add_node("Add", [a, r], label="s")[0]      # both die here: s takes a's buffer
    t = g.add_node("Mul", [s, s], label="t")[0]      # s read twice by one node: no in place
    g.add_output(conv(g, t, 4, "u"), "y")
    plan = checked(g)
    assert plan.aliases == {Value("s"): Value("a")}
    assert Value("r") not in plan.aliases and Value("t") not in plan.aliases


def test_views_share_bytes_even_while_the_operand_lives():
    g = Graph("views")
    x = g.add_input("x", TensorType((1, 4, 4, 4)))
    a = g.add_node("Sigmoid", [x], label="a")[0]
    f = g.add_node("Reshape", [a], {"shape": (1, 4, 16, 1)}, label="f")[0]
    b = g.add_node("Relu", [a], label="b")[0]        # f still reads a's bytes: no in place
    fb = g.add_node("Reshape", [b], {"shape": (1, 4, 16, 1)}, label="fb")[0]
    s = g.add_node("Add", [f, fb], label="s")[0]
    g.add_output(conv(g, s, 4, "c"), "y")
    plan = checked(g)
    assert plan.aliases == {Value("f"): Value("a"), Value("fb"): Value("b"), Value("s"): Value("f")}
    (shared,) = [buf for buf in plan.buffers if Value("a") in buf.values]
    assert shared.values == (Value("a"), Value("f"), Value("s"))
    assert plan.lower_bound_bytes == plan.arena_bytes == 512


def test_fused_conv_overwrites_its_residual():
    g = Graph("residual")
    x = g.add_input("x", TensorType((1, 4, 4, 4)))
    z = g.add_node("Relu", [conv(g, x, 4, "a")], label="z")[0]
    w = g.add_constant(np.ones((4, 4, 3, 3), np.float32) / 36)
    bias = g.add_constant(np.zeros(4, np.float32))
    y = g.add_node("FusedConv", [z, w, bias, z], {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1),
                                                  "activation": "Relu"}, label="self")[0]
    b = conv(g, y, 4, "b")
    y2 = g.add_node("FusedConv", [y, w, bias, b], {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)},
                    label="res")[0]
    g.add_output(conv(g, y2, 4, "c"), "y")
    plan = checked(g)
    assert Value("self") not in plan.aliases         # Z is also X there: a window, not elementwise
    assert plan.aliases[Value("res")] == b     # b dies there: Y takes its bytes
    assert get_op("FusedConv").in_place == (3,) and get_op("Reshape").view


def test_outputs_in_the_arena_live_to_the_end():
    g = unary_chain("Relu", 3)
    mid = Value("l1")
    g.add_output(mid, "mid")                         # an output that is also read by l2
    assert Value("l2") not in plan_memory(g).offsets
    plan = checked(g, outputs_in_arena=True)
    assert plan.aliases == {mid: Value("l0")}        # l2 must not overwrite the output l1
    assert {b.end for b in plan.buffers} == {len(plan.order)}
    assert len(plan.buffers) == 2 and plan.arena_bytes == 512


@pytest.mark.parametrize("alignment, arena, naive",
                         [(64, 64 + 12, 3 * 64), (1, 24, 36), (16, 16 + 12, 48)])
def test_offsets_are_aligned(alignment, arena, naive):
    g = unary_chain("Conv", 4, shape=(1, 3, 1, 1))   # three 12-byte intermediates
    plan = checked(g, alignment=alignment)
    assert (plan.arena_bytes, plan.lower_bound_bytes, plan.naive_bytes) == (arena, 24, naive)
    assert all(off % alignment == 0 for off in plan.offsets.values())


@pytest.mark.parametrize("bad", [0, -64, 1.5, True, "64"])
def test_bad_alignment_is_a_cnnc_error(bad):
    with pytest.raises(CnncError, match="alignment must be a positive number"):
        plan_memory(unary_chain("Relu", 2), alignment=bad)


def test_validate_finds_overlaps_and_bad_offsets():
    plan = plan_memory(unary_chain("Conv", 4))
    a, b = plan.buffers[:2]
    clash = Buffer(b.values, b.nbytes, b.start, b.end, a.offset + 64)
    with pytest.raises(VerifyError, match="overlap while both are live"):
        replace(plan, buffers=(a, clash, *plan.buffers[2:])).validate()
    odd = Buffer(b.values, b.nbytes, b.start, b.end, 1000)
    with pytest.raises(VerifyError, match="not aligned.*past the arena"):
        replace(plan, buffers=(a, odd, *plan.buffers[2:])).validate()


def test_analysis_leaves_the_graph_alone_and_summarizes():
    g = diamond()
    before = (g.dump(), {n: id(d["node"]) for n, d in g.nx.nodes(data=True)})
    text = plan_memory(g).summary()
    assert (g.dump(), {n: id(d["node"]) for n, d in g.nx.nodes(data=True)}) == before
    assert "memory plan of 'diamond'" in text and "1024 bytes" in text and "1.000 x bound" in text
    empty = plan_memory(unary_chain("Relu", 1))      # the only value is an output
    assert (empty.arena_bytes, empty.lower_bound_bytes, empty.buffers) == (0, 0, ())
    assert "0 values" in empty.summary()


# ---------------------------------------------------------------- random graphs
HW = ((4, 4), (2, 8), (8, 2))


@st.composite
def random_graphs(draw):
    """Random DAGs of views, in-place candidates (unary, binary, variadic, BatchNorm,
    FusedConv residuals) and ops that are neither (Conv, Concat), with dead values and
    outputs that are also read."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    g = Graph("random")
    vals = [g.add_input("x", TensorType((1, draw(st.integers(1, 3)), 4, 4)))]

    def pick(xs):
        return draw(st.sampled_from(xs))

    def some(xs):
        return draw(st.lists(st.sampled_from(xs), min_size=1, max_size=2))

    def const(*shape, low=-1.0):
        return g.add_constant(rng.uniform(low, 2, shape).astype(np.float32))

    def fused(x, c, same_hw):
        z = pick(same_hw)
        m = g.type_of(z).shape[1]
        return "FusedConv", [x, const(m, c, 1, 1), const(m), z], {
            "kernel_shape": (1, 1), "activation": "Relu", "residual": pick(["pre", "post"])}

    layers = {  # kind -> (x, channels, same-type values, same-H,W values) -> (op, operands, attrs)
        "unary": lambda x, c, same, hw: (pick(["Relu", "Sigmoid", "Neg", "Identity", "Dropout"]),
                                         [x], {}),
        "binary": lambda x, c, same, hw: (pick(["Add", "Mul", "Sub"]), [x, pick(same)], {}),
        "sum": lambda x, c, same, hw: ("Sum", [x, *some(same)], {}),
        "bn": lambda x, c, same, hw: ("BatchNormalization",
                                      [x, const(c), const(c), const(c), const(c, low=0.5)], {}),
        "view": lambda x, c, same, hw: ("Reshape", [x], {"shape": (1, c, *pick(HW))}),
        "conv": lambda x, c, same, hw: ("Conv", [x, const(draw(st.integers(1, 4)), c, 1, 1)],
                                        {"kernel_shape": (1, 1)}),
        "fused": lambda x, c, same, hw: fused(x, c, hw),
        "concat": lambda x, c, same, hw: ("Concat", [x, pick(hw)], {"axis": 1}),
    }
    for _ in range(draw(st.integers(1, 14))):
        x = pick(vals)
        t = g.type_of(x)
        same = [v for v in vals if g.type_of(v) == t]
        same_hw = [v for v in vals if g.type_of(v).shape[2:] == t.shape[2:]]
        op, operands, attrs = layers[pick(sorted(layers))](x, t.shape[1], same, same_hw)
        vals.append(g.add_node(op, operands, attrs)[0])
    outputs = draw(st.lists(st.sampled_from(vals[1:]), min_size=1, max_size=3, unique=True))
    for i, v in enumerate(outputs):
        g.add_output(v, f"y{i}")
    return g


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.booleans(), st.booleans(), st.sampled_from([1, 4, 64]))
def test_random_graphs(g, in_place, outputs_in_arena, alignment):
    plan = checked(g, in_place=in_place, outputs_in_arena=outputs_in_arena, alignment=alignment)
    computed = {Value(n, p) for n in plan.order for p in range(len(g.node(n).types))}
    assert set(plan.offsets) == {v for v in computed if outputs_in_arena or not g.is_output(v)}
    assert all(plan.offsets[v] == plan.offsets[a] for v, a in plan.aliases.items())


# ---------------------------------------------------------------- the light ONNX models
@functools.cache
def _light(name: str, optimized: bool) -> Graph:
    """A light model as imported, or after optimize(level=2) (skipped while passes are missing)."""
    if not optimized:
        return cnnc.load_onnx(LIGHT / f"light_{name}.onnx")
    missing = [p for p in LEVELS[2] if p not in PASSES]
    if missing:
        pytest.skip(f"optimize(level=2) needs the passes {', '.join(missing)}")
    return cnnc.optimize(_light(name, False), level=2)


@pytest.mark.parametrize("optimized", [False, True], ids=["imported", "optimized"])
@pytest.mark.parametrize("name", ["resnet50", "squeezenet", "densenet121"])
def test_light_models(name, optimized, capsys):
    g = _light(name, optimized)
    plan = plan_memory(g).validate()
    with capsys.disabled():
        print(f"\n[{name}, {'optimized' if optimized else 'imported'}]\n{plan.summary()}")
    assert plan.arena_bytes <= 1.1 * plan.lower_bound_bytes
    assert plan.arena_bytes <= plan_memory(g, in_place=False).arena_bytes < plan.naive_bytes


@pytest.mark.parametrize("optimized", [False, True], ids=["imported", "optimized"])
def test_squeezenet_runs_in_one_arena(optimized):
    g = _light("squeezenet", optimized)
    assert_runs_in_arena(g, plan_memory(g).validate())


# ---------------------------------------------------------------- Concat in place
def dense_blocks(channels=(8, 4, 4)) -> Graph:
    """DenseNet's pattern: each block's Concat takes the previous Concat and a new conv."""
    g = Graph("dense")
    x = g.add_input("x", TensorType((1, 3, 8, 8)))
    feats = conv(g, x, channels[0], "stem")
    for i, c in enumerate(channels[1:]):
        new = conv(g, g.add_node("Relu", [feats], label=f"r{i}")[0], c, f"new{i}")
        feats = g.add_node("Concat", [feats, new], {"axis": 1}, label=f"cat{i}")[0]
    g.add_output(conv(g, feats, 2, "head"), "y")
    return g


def test_nested_concats_are_written_in_place():
    g = dense_blocks()
    plan = checked(g, concat_slices=True)
    cat0, cat1 = Value("cat0"), Value("cat1")
    assert plan.slices == {Value("stem"): (cat0, 0), Value("new0"): (cat0, 8 * 64 * F32),
                           cat0: (cat1, 0), Value("new1"): (cat1, 12 * 64 * F32)}
    assert plan.offsets[Value("stem")] == plan.offsets[cat0] == plan.offsets[cat1]
    assert plan.offsets[Value("new1")] == plan.offsets[cat1] + 12 * 64 * F32
    without = checked(g)
    assert not without.slices and plan.arena_bytes < without.arena_bytes


def test_concat_slices_only_where_they_are_safe():
    g = Graph("unsafe")
    x = g.add_input("x", TensorType((2, 2, 4, 4)))                  # rows of two images
    a = conv(g, x, 4, "a")
    rows = g.add_node("Concat", [a, conv(g, x, 4, "b")], {"axis": 1}, label="two_rows")[0]
    g.add_output(conv(g, rows, 2, "f"), "y0")
    y = g.add_input("y", TensorType((1, 3, 3, 3)))
    c = conv(g, y, 1, "c")                                           # 36 bytes: the next slice is misaligned
    r = g.add_node("Relu", [c], label="r")[0]                        # used twice: not a slice
    cat = g.add_node("Concat", [c, conv(g, y, 2, "d"), y, r, r], {"axis": 1}, label="mixed")[0]
    g.add_output(conv(g, cat, 2, "e"), "y1")
    # an in-place-capable producer (Relu) writes its slice instead of taking over its operand
    s = g.add_node("Relu", [conv(g, y, 16, "s0")], label="s")[0]    # 576 bytes: 9 x 64
    pair = g.add_node("Concat", [s, conv(g, y, 16, "t")], {"axis": 1}, label="pair")[0]
    g.add_output(conv(g, pair, 2, "h"), "y2")
    plan = checked(g, concat_slices=True)
    assert plan.slices == {Value("c"): (Value("mixed"), 0), s: (pair, 0), Value("t"): (pair, 576)}
    assert plan.offsets[s] != plan.offsets[Value("s0")]


def test_concat_in_place_in_the_c_build(rng):
    """The C build plans its Concats in place (the parts are already in their slots)."""
    g = dense_blocks((16, 16, 16))
    feeds = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)}
    np.testing.assert_allclose(cnnc.compile(g, target="c").run(feeds)["y"], cnnc.compile(g).run(feeds)["y"],
                               rtol=1e-5, atol=1e-6)
