"""buffer_plan: halo-padded buffers, simulated in numpy — the producer writes into the
interior of a zero-halo buffer, every consumer reads its windows with no padding at all."""
import numpy as np
import pytest
from helpers import random_feeds

import cnnc.dsl as nn
from cnnc.backends.reference import ReferenceModel
from cnnc.ir import Value, get_op
from cnnc.passes.padding import buffer_plan

SHAPES = {1: (1, 2, 11), 2: (1, 2, 9, 10), 3: (1, 2, 6, 7, 5)}


def simulate(g, plan):
    """Run every planned read from its padded buffer; compare with the reference."""
    feeds = random_feeds(g, np.random.default_rng(0))
    env = ReferenceModel(g).evaluate(list(feeds.values()), keep_all=True)
    for buf in plan.buffers:
        nd = len(buf.halo) // 2
        storage = np.zeros(buf.shape, buf.type.dtype)                 # the halo, zeroed once
        interior = (slice(None),) * 2 + tuple(slice(b, b + n) for b, n in zip(buf.halo, buf.type.shape[2:]))
        storage[interior] = env[buf.value]                            # the producer's write
        assert tuple(s // storage.itemsize for s in storage.strides) == buf.strides
        assert storage.reshape(-1)[buf.interior_offset] == env[buf.value][(0,) * (2 + nd)]
        assert buf.halo_elements == storage.size - env[buf.value].size
        reads = [r for r in plan.reads if r.value == buf.value]
        for read in reads:
            node = g.node(read.node)
            window = tuple(slice(o, o + e) for o, e in zip(read.origin, read.extent))
            region = storage[(slice(None),) * 2 + window]
            flat = {"pads": (0,) * (2 * nd), "auto_pad": "NOTSET"}
            if "ceil_mode" in node.attrs:
                flat["ceil_mode"] = 0   # the overhang is in the buffer too: plain windows
            others = [env[v] for v in g.operands(read.node)[1:]]
            (got,) = get_op(node.op).run([region, *others], node.attrs.replace(**flat))
            np.testing.assert_allclose(got, env[Value(read.node)], rtol=1e-5, atol=1e-5, err_msg=read.node)
    return env


def fused(x, pads, stride):
    g, nd = x.model.graph, len(x.shape) - 2
    rng = np.random.default_rng(1)
    w = g.add_constant(rng.standard_normal((3, x.shape[1], *(2,) * nd)).astype(np.float32))
    b = g.add_constant(rng.standard_normal(3).astype(np.float32))
    (y,) = g.add_node("FusedConv", [x.value, w, b], {"pads": pads, "strides": (stride,) * nd,
                                                    "activation": "Relu"})
    return nn.Tensor(x.model, y)


def asym(nd, begin, end):
    return (begin,) * nd + (end,) * nd


#: zero-padding readers of one value, each with different pads
READERS = {
    "conv_sym": lambda v, s, d: nn.conv(v, 3, 3, s, 1, d),
    "conv_same_lower_even": lambda v, s, d: nn.conv(v, 2, 2, s, "same_lower", d),
    "conv_full": lambda v, s, d: nn.conv(v, 2, 3, 1, "full", d, groups=2),
    "conv_valid": lambda v, s, d: nn.conv(v, 2, 1, s),
    "fused": lambda v, s, d: fused(v, asym(len(v.shape) - 2, 2, 0), s),
    "lp_ceil": lambda v, s, d: nn.lp_pool(v, 3, 2, "same", ceil_mode=True, dilation=d),
    "avg_count_pad": lambda v, s, d: nn.avg_pool(v, 3, s, asym(len(v.shape) - 2, 0, 2),
                                                 count_include_pad=True),
    "local": lambda v, s, d: nn.local_conv(v, 2, 2, s, asym(len(v.shape) - 2, 1, 0), d),
    "tiled": lambda v, s, d: nn.tiled_conv(v, 2, 3, 2, s, "same", d),
}


def shared_value(nd, stride, dilation, readers=READERS):
    m = nn.Model("t")
    v = nn.conv(m.input("x", SHAPES[nd]), 2, 1, name="producer")
    for name, reader in readers.items():
        m.output(reader(v, stride, dilation), name)
    return m.build()


@pytest.mark.parametrize("nd", (1, 2, 3))
@pytest.mark.parametrize("stride,dilation", ((1, 1), (2, 1), (1, 2), (2, 2)))
def test_simulated_padded_buffers_give_the_reference(nd, stride, dilation):
    g = shared_value(nd, stride, dilation)
    plan = buffer_plan(g)
    (buf,) = plan.buffers
    assert buf.value == Value("producer") and not buf.materialize and buf.reason == ""
    assert {r.node for r in plan.reads} == {n for n, _ in g.users(buf.value)}
    simulate(g, plan)


def two_convs(pads_a, pads_b, *, shape=(1, 2, 8, 9)):
    m = nn.Model("t")
    v = nn.conv(m.input("x", shape), 2, 1, name="producer")
    m.output(nn.conv(v, 3, 3, 1, pads_a, name="a"), "a")
    m.output(nn.conv(v, 3, 2, 2, pads_b, name="b"), "b")
    return m.build()


def test_several_consumers_share_a_max_halo():
    g = two_convs((1, 1, 1, 1), (0, 2, 3, 0))
    plan = buffer_plan(g)
    (buf,) = plan.buffers
    assert buf.halo == (1, 2, 3, 1) and buf.shape == (1, 2, 8 + 4, 9 + 3)
    a, b = (plan.read(n.name) for n in g.nodes() if n.label in ("a", "b"))
    assert (a.origin, a.extent) == ((0, 1), (10, 11))   # halo begin - own begin
    assert (b.origin, b.extent) == ((1, 0), (11, 11))
    simulate(g, plan)


def test_padded_buffer_layout():
    g = two_convs((1, 2, 3, 1), (0, 0, 0, 0), shape=(2, 3, 4, 5))
    (buf,) = buffer_plan(g).buffers
    assert buf.shape == (2, 2, 8, 8) and buf.strides == (128, 64, 8, 1)
    assert buf.interior_offset == 1 * 8 + 2 and buf.halo_elements == 2 * 2 * (64 - 20)


def test_only_padded_values_get_buffers():
    g = two_convs((0, 0, 0, 0), (0, 0, 0, 0))
    assert buffer_plan(g).buffers == () and buffer_plan(g).reads == ()


@pytest.mark.parametrize("other,reason", [
    (lambda m, v: m.output(nn.relu(v), "r"), "also read by"),
    (lambda m, v: m.output(nn.max_pool(v, 3, 1, 1), "p"), "also read by"),       # pads with -inf
    (lambda m, v: m.output(nn.avg_pool(v, 3, 1, 1), "p"), "also read by"),       # count_include_pad=0
    (lambda m, v: m.output(v, "v"), "a graph output"),
])
def test_materialize_when_the_value_also_lives_unpadded(other, reason):
    m = nn.Model("t")
    v = nn.conv(m.input("x", SHAPES[2]), 2, 1, name="producer")
    m.output(nn.conv(v, 3, 3, 1, "same"), "y")
    other(m, v)
    g = m.build()
    plan = buffer_plan(g)
    (buf,) = plan.buffers
    assert buf.materialize and buf.reason.startswith(reason)
    simulate(g, plan)


def test_graph_input_is_materialized():
    m = nn.Model("t")
    m.output(nn.conv(m.input("x", SHAPES[1]), 3, 3, 1, "same"), "y")
    g = m.build()
    (buf,) = buffer_plan(g).buffers
    assert buf.materialize and buf.reason == "a graph input" and buf.halo == (1, 1)
