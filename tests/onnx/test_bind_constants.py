"""Binding a graph input's value: ``load_onnx(..., constants={name: array})`` and the CLI's
``--bind NAME=file.npy`` / ``--bind NAME=1,2,3`` make an input a constant, so that a model
whose Pad pads, Clip bounds, Resize sizes or Reshape shape come from an input compiles; the
error for such a model names the inputs to bind and both ways to bind them; bad bindings
are one clear error."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import cnnc
from cnnc.cli import main
from cnnc.ir import CnncError


def _model(tmp_path, nodes, inputs, out_shape=("a", "b", "c", "d")):
    vis = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    g = helper.make_graph(nodes, "bound", vis, [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)])
    path = tmp_path / "m.onnx"
    import onnx
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


F, I = TensorProto.FLOAT, TensorProto.INT64


def _pad(x):
    return np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))


#: (op node, its value inputs with types and shapes, the values to bind, expected output of x, output shape)
OPS = [
    (helper.make_node("Pad", ["x", "pads"], ["y"]), [("pads", I, (8,))], {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1])},
     _pad, (1, 2, 5, 5)),
    (helper.make_node("Clip", ["x", "lo", "hi"], ["y"]), [("lo", F, ()), ("hi", F, ())], {"lo": np.float32(-0.5), "hi": 0.5},
     lambda x: np.clip(x, -0.5, 0.5), (1, 2, 3, 3)),
    (helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest"), [("sizes", I, (4,))],
     {"sizes": [1, 2, 6, 6]}, lambda x: x.repeat(2, axis=2).repeat(2, axis=3), (1, 2, 6, 6)),
    (helper.make_node("Reshape", ["x", "shape"], ["y"]), [("shape", I, (2,))], {"shape": np.array([2, 9])},
     lambda x: x.reshape(2, 9), (2, 9)),
]


@pytest.mark.parametrize("node,values,bound,fn,out", OPS, ids=[o[0].op_type for o in OPS])
def test_an_op_operand_from_an_input(tmp_path, rng, node, values, bound, fn, out):
    path = _model(tmp_path, [node], [("x", F, (1, 2, 3, 3))] + values, ("a",) * len(out))
    with pytest.raises(CnncError) as e:
        cnnc.load_onnx(path)
    name = values[0][0]
    assert (f"graph input {name!r}" in str(e.value) and f"constants={{{name!r}: array}}" in str(e.value)
            and f"--bind {name}=" in str(e.value)), str(e.value)
    g = cnnc.load_onnx(path, constants=bound)
    assert list(g.input_types()) == ["x"]
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(cnnc.compile(g, target="c").run({"x": x})["y"], fn(x))


def test_cli_bind_from_a_list_and_a_file(tmp_path, capsys):
    path = _model(tmp_path, [helper.make_node("Pad", ["x", "pads"], ["y"])], [("x", F, (1, 2, 3, 3)), ("pads", I, (8,))])
    np.save(tmp_path / "pads.npy", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    assert main(["verify", str(path), "--target", "c", "--bind", "pads=0,0,1,1,0,0,1,1"]) == 0
    assert main(["verify", str(path), "--target", "c", "--bind", f"pads={tmp_path / 'pads.npy'}"]) == 0
    assert "ok: every output within tolerance" in capsys.readouterr().out
    assert main(["show", str(path), "--bind", "pads=0,0,1,1,0,0,1,1"]) == 0


@pytest.mark.parametrize("bound,match", [
    ({"pad": [0] * 8}, r"constants \(--bind\) names 'pad', which is not a graph input; inputs are 'x', 'pads'"),
    ({"pads": [0.5] * 8}, r"graph input 'pads': the value bound to it .* has dtype float64 with fractions; the input is int64"),
    ({"pads": [0] * 4}, r"graph input 'pads': the value bound to it .* has shape \(4,\); the input is declared \(8,\)"),
])
def test_bad_bindings(tmp_path, bound, match):
    path = _model(tmp_path, [helper.make_node("Pad", ["x", "pads"], ["y"])], [("x", F, (1, 2, 3, 3)), ("pads", I, (8,))])
    with pytest.raises(CnncError, match=match):
        cnnc.load_onnx(path, constants=bound)


def test_a_shape_and_a_value_for_one_input(tmp_path):
    path = _model(tmp_path, [helper.make_node("Pad", ["x", "pads"], ["y"])], [("x", F, (1, 2, 3, 3)), ("pads", I, (8,))])
    with pytest.raises(CnncError, match="'pads' given both a shape"):
        cnnc.load_onnx(path, input_shapes={"pads": (8,)}, constants={"pads": [0] * 8})


def test_cli_bind_needs_name_and_value(tmp_path, capsys):
    path = _model(tmp_path, [helper.make_node("Pad", ["x", "pads"], ["y"])], [("x", F, (1, 2, 3, 3)), ("pads", I, (8,))])
    assert main(["show", str(path), "--bind", "pads"]) == 1
    assert "--bind expects NAME=FILE.npy or NAME=v0,v1,..." in capsys.readouterr().err
