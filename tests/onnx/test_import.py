"""ONNX import: dynamic exports with bound shapes, old IR/opsets, functions, external data,
and one clear cnnc error for every kind of bad input."""
import os

import numpy as np
import onnx
import pytest
from helpers import dynamic_convnet
from onnx import TensorProto, helper, numpy_helper

import cnnc
from cnnc.ir import CnncError

RNG = np.random.default_rng(0)


def ort(model, feeds):
    import onnxruntime
    return onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (3, 3, 5, 7)])
def test_dynamic_dims_bound_by_input_shapes(shape):
    model = dynamic_convnet()
    g = cnnc.load_onnx(model, input_shapes={"x": shape})
    ops = {n.op for n in g.nodes()}
    assert not ops & {"Shape", "Gather", "Concat"}, ops    # folded away
    assert g.output_types()["y"].shape == (shape[0], 4)
    x = RNG.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(cnnc.compile(g).run({"x": x})["y"], ort(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_unbound_symbolic_dim_names_input_and_dim():
    with pytest.raises(CnncError, match=r"input 'x' dims 0 \('batch'\), 2 \('h'\), 3 \('w'\) are symbolic; bind "
                                        r"them with input_shapes=\{'x': \(batch, 3, h, w\)\} \(CLI: --input-shape "
                                        r"x=batch,3,h,w\)"):
        cnnc.load_onnx(dynamic_convnet())
    with pytest.raises(CnncError, match="not a graph input"):
        cnnc.load_onnx(dynamic_convnet(), input_shapes={"images": (1, 3, 8, 8)})
    with pytest.raises(CnncError, match="dim 1 = 4, the model fixes it to 3"):
        cnnc.load_onnx(dynamic_convnet(), input_shapes={"x": (1, 4, 8, 8)})


def test_every_unbound_dim_of_every_input_is_listed_at_once():
    model = dynamic_convnet()
    second = onnx.helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 7])
    model.graph.input.append(second)
    with pytest.raises(CnncError) as e:
        cnnc.load_onnx(model)
    msg = str(e.value)
    assert "input 'x' dims 0 ('batch'), 2 ('h'), 3 ('w') are symbolic" in msg
    assert "input 'z' dim 0 ('n') is symbolic; bind it with input_shapes={'z': (n, 7)} (CLI: --input-shape z=n,7)" in msg


def test_a_dim_of_minus_1_is_symbolic():
    """Some exporters (a PP-OCR MobileNetV3 classifier) write -1 for a free dim."""
    model = dynamic_convnet()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for d in dims[:1] + dims[2:]:
        d.dim_value = -1
    with pytest.raises(CnncError, match=r"input 'x' dims 0, 2, 3 are symbolic.*--input-shape x=d0,3,d2,d3"):
        cnnc.load_onnx(model)
    g = cnnc.load_onnx(model, input_shapes={"x": (1, 3, 8, 8)})
    assert g.input_types()["x"].shape == (1, 3, 8, 8)


def test_old_ir3_model_with_initializers_as_inputs(tmp_path):
    """IR 3 / opset 9: initializers are listed among the graph inputs too."""
    w = RNG.standard_normal((2, 3, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"]),
         helper.make_node("Upsample", ["y", "scales"], ["z"], mode="nearest")],
        "old", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4]),
                helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 3, 1, 1]),
                helper.make_tensor_value_info("scales", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2, 8, 8])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 3
    path = tmp_path / "old.onnx"
    onnx.save(model, path)
    g = cnnc.load_onnx(path)
    assert list(g.input_types()) == ["x"]
    x = RNG.standard_normal((1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(cnnc.compile(g).run({"x": x})["z"], ort(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_model_local_functions_are_inlined():
    fn = helper.make_function("custom", "Swishy", ["a"], ["b"],
                              [helper.make_node("Sigmoid", ["a"], ["s"]), helper.make_node("Mul", ["a", "s"], ["b"])],
                              opset_imports=[helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("Swishy", ["x"], ["y"], domain="custom")], "f",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, functions=[fn], opset_imports=[helper.make_opsetid("", 17),
                                                                    helper.make_opsetid("custom", 1)])
    g = cnnc.load_onnx(model)
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(cnnc.compile(g).run({"x": x})["y"], x / (1 + np.exp(-x)), rtol=1e-6)


def test_batchnorm_written_as_mul_add_imports_as_those_ops():
    scale = numpy_helper.from_array(RNG.standard_normal((1, 3, 1, 1)).astype(np.float32), "s")
    shift = numpy_helper.from_array(RNG.standard_normal((1, 3, 1, 1)).astype(np.float32), "t")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "s"], ["m"]), helper.make_node("Add", ["m", "t"], ["y"])],
                              "bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 2, 2])], [scale, shift])
    g = cnnc.load_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    assert [n.op for n in g.nodes() if n.op not in ("Input", "Constant")] == ["Mul", "Add"]


def _save(tmp_path, model, name="m.onnx"):
    p = tmp_path / name
    p.write_bytes(model.SerializeToString())
    return p


def test_truncated_file(tmp_path):
    data = _save(tmp_path, dynamic_convnet()).read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CnncError, match="truncated.onnx") as e:
        cnnc.load_onnx(bad, input_shapes={"x": (1, 3, 8, 8)})
    assert "Traceback" not in str(e.value)


def test_random_bytes_file(tmp_path):
    bad = tmp_path / "noise.onnx"
    bad.write_bytes(np.random.default_rng(3).bytes(4096))
    with pytest.raises(CnncError, match="noise.onnx: not a valid ONNX"):
        cnnc.load_onnx(bad)


def test_missing_file(tmp_path):
    with pytest.raises(CnncError, match="no such ONNX file"):
        cnnc.load_onnx(tmp_path / "nope.onnx")


def test_three_unsupported_ops_in_one_error():
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
         helper.make_node("NonMaxSuppression", ["c", "c"], ["a"], name="nms"),
         helper.make_node("TopK", ["a", "k"], ["v", "i"], name="topk"),
         helper.make_node("Relu", ["v"], ["r"], name="relu"),
         helper.make_node("Hardmax", ["r"], ["y"], name="hardmax")],
        "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
        [numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w"),
         numpy_helper.from_array(np.array([1], np.int64), "k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(CnncError) as e:
        cnnc.load_onnx(model)
    msg = str(e.value)
    assert "3 problems" in msg
    for name, op in (("nms", "NonMaxSuppression"), ("topk", "TopK"), ("hardmax", "Hardmax")):
        assert f"node '{name}' ({op}, opset 13): op {op} is not supported" in msg
    assert "'conv'" not in msg and "'relu'" not in msg


def test_unsupported_attribute_value_and_dtype_reported_together():
    graph = helper.make_graph(
        [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], training_mode=1, name="bn"),
         helper.make_node("Cast", ["x"], ["z"], to=TensorProto.STRING, name="cast"),
         helper.make_node("Hardmax", ["y"], ["r"], name="hardmax")],
        "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3])],
        [helper.make_tensor_value_info("z", TensorProto.STRING, [1, 2, 3]),
         helper.make_tensor_value_info("r", TensorProto.FLOAT, [1, 2, 3])],
        [numpy_helper.from_array(np.ones(2, np.float32), n) for n in "sbmv"])
    with pytest.raises(CnncError) as e:
        cnnc.load_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]))
    msg = str(e.value)
    assert "training" in msg and "'cast'" in msg and "3 problems" in msg
    assert "node 'hardmax' (Hardmax, opset 15): op Hardmax is not supported" in msg  # downstream of bn


def _external_model(tmp_path, location):
    model = dynamic_convnet()
    w = next(t for t in model.graph.initializer if t.name == "w")
    raw = numpy_helper.to_array(w).tobytes()
    w.ClearField("float_data")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
        w.external_data.add(key=k, value=v)
    d = tmp_path / "model"
    d.mkdir()
    (tmp_path / "secret.bin").write_bytes(raw)
    (d / "weights.bin").write_bytes(raw)
    return _save(d, model), raw


def test_external_data_inside_folder_loads(tmp_path):
    path, raw = _external_model(tmp_path, "weights.bin")
    g = cnnc.load_onnx(path, input_shapes={"x": (1, 3, 4, 4)})
    w = next(n for n in g.nodes() if n.op == "Constant" and n.attrs["value"].shape == (4, 3, 3, 3))
    assert w.attrs["value"].tobytes() == raw


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin"])
def test_external_data_escaping_folder_is_refused(tmp_path, location):
    path, _ = _external_model(tmp_path, location)
    with pytest.raises(CnncError, match="outside the model's folder"):
        cnnc.load_onnx(path, input_shapes={"x": (1, 3, 4, 4)})


def test_external_data_symlink_escaping_folder_is_refused(tmp_path):
    path, _ = _external_model(tmp_path, "link.bin")
    os.symlink(tmp_path / "secret.bin", path.parent / "link.bin")
    with pytest.raises(CnncError, match="resolves outside the model's folder"):
        cnnc.load_onnx(path, input_shapes={"x": (1, 3, 4, 4)})


def test_save_onnx_leaves_nothing_half_written(tmp_path):
    g = cnnc.load_onnx(dynamic_convnet(), input_shapes={"x": (1, 3, 4, 4)})
    out = cnnc.save_onnx(g, tmp_path / "ok.onnx")
    assert onnx.load(out).graph.node
    with pytest.raises(FileNotFoundError):
        cnnc.save_onnx(g, tmp_path / "missing_dir" / "x.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.onnx"]


def test_opset7_model():
    """Opset 7 spellings: BatchNormalization(spatial), Dropout(ratio) and Clip(min, max)
    as attributes, Pad(pads, value) as attributes, Softmax over a flattened tail."""
    c = 3
    inits = [numpy_helper.from_array(a, n) for n, a in (
        ("scale", RNG.uniform(0.5, 1.5, c).astype(np.float32)), ("bias", RNG.standard_normal(c).astype(np.float32)),
        ("mean", RNG.standard_normal(c).astype(np.float32)), ("var", RNG.uniform(0.5, 1.5, c).astype(np.float32)))]
    nodes = [
        helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["bn"], spatial=1, epsilon=1e-3),
        helper.make_node("Dropout", ["bn"], ["d"], ratio=0.3),
        helper.make_node("Clip", ["d"], ["cl"], min=-0.5, max=0.8),
        helper.make_node("Pad", ["cl"], ["p"], pads=[0, 0, 1, 0, 0, 0, 0, 2], mode="constant", value=0.25),
        helper.make_node("Softmax", ["p"], ["y"], axis=1),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, c, 4, 4])] + [
        helper.make_tensor_value_info(t.name, TensorProto.FLOAT, [c]) for t in inits]  # IR 3 lists them
    graph = helper.make_graph(nodes, "op7", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, c, 5, 6])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 7)])
    model.ir_version = 3
    g = cnnc.load_onnx(model)
    x = RNG.standard_normal((2, c, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(cnnc.compile(g).run({"x": x})["y"], ort(model, {"x": x})[0], rtol=1e-5, atol=1e-6)
