"""Broken and hostile ONNX input: every case is one CnncError naming what is wrong (never a
ValueError, OSError, MemoryError or OverflowError from deep inside), nothing huge is
allocated, and what used to be accepted although invalid is refused."""
import os
import resource
import subprocess
import sys

import numpy as np
import onnx
import pytest
from helpers import dynamic_convnet
from onnx import TensorProto, helper, numpy_helper

import cnnc
from cnnc.ir import CnncError

SHAPES = {"x": (1, 3, 4, 4)}


def _save(folder, model, name="m.onnx"):
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def _conv_model(opset=17, pads=(1, 1, 1, 1), out_shape=(1, 2, 4, 4), out_type=TensorProto.FLOAT):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((2, 3, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=list(pads), name="conv")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 3, 4, 4))],
                              [helper.make_tensor_value_info("y", out_type, out_shape)], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


# ----------------------------------------------------------------------------- initializers
@pytest.mark.parametrize("dtype", [TensorProto.FLOAT16, TensorProto.BOOL, TensorProto.INT8])
def test_initializer_whose_dtype_disagrees_with_its_bytes(dtype):
    """More bytes than the dims need (onnx.checker refuses fewer)."""
    model = dynamic_convnet()
    b = next(t for t in model.graph.initializer if t.name == "b")
    b.data_type = dtype          # 16 bytes of float data read as another type of 4 elements
    with pytest.raises(CnncError, match=r"initializer 'b': holds 16 bytes of raw data, but dims \[4\]"):
        cnnc.load_onnx(model, input_shapes=SHAPES)


def test_initializer_with_typed_data_of_the_wrong_length():
    model = dynamic_convnet()
    b = next(t for t in model.graph.initializer if t.name == "b")
    b.CopyFrom(helper.make_tensor("b", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0]))
    b.float_data.append(5.0)     # one value more than the dims take (onnx.checker refuses fewer)
    with pytest.raises(CnncError, match="initializer 'b': its data does not match dims"):
        cnnc.load_onnx(model, input_shapes=SHAPES)


def test_constant_attribute_tensor_is_checked_too():
    model = dynamic_convnet()
    t = numpy_helper.from_array(np.ones(4, np.float32), "k")
    t.data_type = TensorProto.FLOAT16
    model.graph.node.insert(0, helper.make_node("Constant", [], ["k"], value=t, name="const"))
    with pytest.raises(CnncError, match=r"node 'const' \(Constant.*attribute 'value': tensor 'k' holds 16 bytes"):
        cnnc.load_onnx(model, input_shapes=SHAPES)


# ----------------------------------------------------------------------------- external data
def _external(tmp_path, **info):
    model = dynamic_convnet()
    w = next(t for t in model.graph.initializer if t.name == "w")
    raw = numpy_helper.to_array(w).tobytes()
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in {"location": "weights.bin", "offset": "0", "length": str(len(raw)), **info}.items():
        w.external_data.add(key=k, value=v)
    (tmp_path / "weights.bin").write_bytes(raw)
    return _save(tmp_path, model)


@pytest.mark.parametrize("info, message", [
    ({"offset": "-5"}, "offset '-5' is not a non-negative integer"),
    ({"offset": "abc"}, "offset 'abc' is not a non-negative integer"),
    ({"offset": str(10**13)}, "reaches past the end of 'weights.bin'"),
    ({"offset": "500", "length": ""}, r"external data of 0 bytes at offset 500 reaches past the end"),
    ({"length": "-1"}, "length '-1' is not a non-negative integer"),
    ({"length": str(10**13)}, r"external data of 10000000000000 bytes at offset 0 reaches past the end"),
    ({"length": "x1"}, "length 'x1' is not a non-negative integer"),
    ({"location": "weights\x00.bin"}, "holds a NUL byte"),
])
def test_bad_external_data_entries(tmp_path, info, message):
    path = _external(tmp_path, **info)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CnncError, match=message):
        cnnc.load_onnx(path, input_shapes=SHAPES)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000   # KB: nothing big was read


def test_external_data_with_no_length_reads_to_the_end(tmp_path):
    path = _external(tmp_path, length="")
    g = cnnc.load_onnx(path, input_shapes=SHAPES)
    assert any(n.op == "Constant" and n.attrs["value"].shape == (4, 3, 3, 3) for n in g.nodes())


# ----------------------------------------------------------------------------- sizes and limits
def test_input_declared_with_2_62_elements_is_refused():
    model = _conv_model()
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 1 << 62
    with pytest.raises(CnncError, match=r"graph input 'x':.*above cnnc's limit.*CNNC_MAX_TENSOR_BYTES"):
        cnnc.load_onnx(model)


def test_maxpool_whose_padded_plane_is_huge():
    """A small output from a huge padded plane (stride as large as the pads): refused by the
    size of that plane, which the reference would fill."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 1, 4, 4))
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[0, 0, 1 << 31, 1 << 31],
                            strides=[1 << 31, 1 << 31], name="pool")
    model = helper.make_model(helper.make_graph([node], "g", [x], [helper.make_tensor_value_info(
        "y", TensorProto.FLOAT, ("n", "c", "h", "w"))]), opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(CnncError, match=r"node 'pool' \(MaxPool.*a padded plane.*above cnnc's limit"):
        cnnc.load_onnx(model)


def test_conv_pads_of_100000_are_refused_by_the_size_limit():
    model = _conv_model(pads=(100000,) * 4, out_shape=("n", "c", "h", "w"))
    with pytest.raises(CnncError, match=r"node 'conv' \(Conv.*above cnnc's limit"):
        cnnc.load_onnx(model)


def test_the_limit_is_raised_and_lowered_at_run_time(monkeypatch):
    model = _conv_model()
    monkeypatch.setattr(cnnc.LIMITS, "tensor_bytes", 64)   # the (2, 3, 3, 3) weight takes 216 bytes
    with pytest.raises(CnncError, match="initializer 'w':.*limit of 64 bytes"):
        cnnc.load_onnx(model)
    monkeypatch.setattr(cnnc.LIMITS, "tensor_bytes", 1 << 20)
    assert cnnc.load_onnx(model).output_types()["y"].shape == (1, 2, 4, 4)


def test_the_limits_are_set_by_the_environment():
    code = "import cnnc; print(cnnc.LIMITS.tensor_bytes, cnnc.LIMITS.constant_bytes)"
    env = {**os.environ, "CNNC_MAX_TENSOR_BYTES": "12345", "CNNC_MAX_CONSTANT_BYTES": "67890"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["12345", "67890"]
    env["CNNC_MAX_TENSOR_BYTES"] = "lots"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode != 0 and "CNNC_MAX_TENSOR_BYTES='lots': expected a positive number of bytes" in res.stderr


def test_many_constants_together_are_bounded(monkeypatch):
    """Each of 40 folded constants of 1 MiB is within the per-tensor limit; together they pass
    the constant limit, which stops the import before the one that would cross it is made."""
    monkeypatch.setattr(cnnc.LIMITS, "constant_bytes", 16 << 20)
    model = _conv_model()
    model.graph.initializer.append(numpy_helper.from_array(np.array([1 << 18], np.int64), "shape"))
    for i in range(40):
        model.graph.node.append(helper.make_node("ConstantOfShape", ["shape"], [f"c{i}"], name=f"cos{i}"))
        model.graph.node.append(helper.make_node("ReduceSum", [f"c{i}"], [f"s{i}"], keepdims=0, name=f"sum{i}"))
        model.graph.output.append(helper.make_tensor_value_info(f"s{i}", TensorProto.FLOAT, ()))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CnncError, match=r"node 'cos15' \(ConstantOfShape.*constants to 16 MiB.*limit of 16 MiB"):
        cnnc.load_onnx(model)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000   # KB


def test_constant_of_shape_with_a_huge_shape():
    model = _conv_model()
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20, 1 << 10], np.int64), "shape")
    model.graph.initializer.append(shape)
    model.graph.node.insert(0, helper.make_node("ConstantOfShape", ["shape"], ["big"], name="cos"))
    model.graph.node.append(helper.make_node("Identity", ["big"], ["z"], name="id"))
    model.graph.output.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, ("a", "b", "c")))
    with pytest.raises(CnncError, match=r"node 'cos' \(ConstantOfShape.*above cnnc's limit"):
        cnnc.load_onnx(model)


@pytest.mark.parametrize("scale", [float("inf"), 1e38, float("nan"), 1e39])
def test_resize_scales_out_of_range(scale):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 1, 2, 2))
    with np.errstate(over="ignore"):
        scales = numpy_helper.from_array(np.array([1, 1, scale, 2], np.float32), "scales")
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest", name="resize")
    model = helper.make_model(helper.make_graph([node], "g", [x], [helper.make_tensor_value_info(
        "y", TensorProto.FLOAT, ("n", "c", "h", "w"))], [scales]), opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(CnncError, match=r"node 'resize' \(Resize"):
        cnnc.load_onnx(model)


@pytest.mark.parametrize("given", ["abc", (1, "3", 4, 4), (1, 3, -4, 4), 7, (1.5, 3, 4, 4)])
def test_input_shapes_must_be_sequences_of_ints(given):
    with pytest.raises(CnncError, match=r"input_shapes\['x'\] must be a sequence of non-negative ints"):
        cnnc.load_onnx(dynamic_convnet(), input_shapes={"x": given})


def test_input_shapes_must_be_a_mapping():
    with pytest.raises(CnncError, match="input_shapes must map input names to shapes"):
        cnnc.load_onnx(dynamic_convnet(), input_shapes=[(1, 3, 4, 4)])


# ----------------------------------------------------------------------------- accepted although invalid
@pytest.mark.parametrize("opset", [29, 999])
def test_newer_opsets_are_refused_naming_the_range(opset):
    with pytest.raises(CnncError, match=f"opset {opset}; cnnc reads opsets 1 to 28"):
        cnnc.load_onnx(_conv_model(opset=opset))


@pytest.mark.parametrize("elem_type, message", [(0, "declared element type is 0"),
                                                (99, "element type 99 is not supported")])
def test_output_elem_type_0_or_99(elem_type, message):
    model = _conv_model()
    model.graph.output[0].type.tensor_type.elem_type = elem_type
    with pytest.raises(CnncError, match=f"graph output 'y': .*{message}"):
        cnnc.load_onnx(model)


def test_output_of_another_declared_dtype():
    with pytest.raises(CnncError, match="graph output 'y': declared as int64, but the graph computes float32"):
        cnnc.load_onnx(_conv_model(out_type=TensorProto.INT64))


def test_declared_output_shape_that_disagrees_with_the_inferred_one():
    model = _conv_model(pads=(0, 0, 0, 0), out_shape=(1, 2, 4, 4))  # inferred (1, 2, 2, 2)
    with pytest.raises(CnncError, match=r"graph output 'y': declared with shape \[1, 2, 4, 4\], but the graph "
                                        r"computes \[1, 2, 2, 2\]"):
        cnnc.load_onnx(model)
    model = _conv_model(pads=(0, 0, 0, 0), out_shape=(1, 2, "h", "w"))   # symbolic dims are fine
    assert cnnc.load_onnx(model).output_types()["y"].shape == (1, 2, 2, 2)
    model = _conv_model(pads=(0, 0, 0, 0), out_shape=(1, 2, -1, -1))     # and so is -1, as on inputs
    assert cnnc.load_onnx(model).output_types()["y"].shape == (1, 2, 2, 2)
    model = _conv_model(pads=(0, 0, 0, 0), out_shape=(1, 2, 2))          # so is a wrong rank not
    with pytest.raises(CnncError, match=r"declared with shape \[1, 2, 2\]"):
        cnnc.load_onnx(model)


def test_an_onnx_file_that_onnxruntime_reads_imports():
    """The checks above refuse nothing a correct export has: a light model with declared output shapes."""
    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_squeezenet.onnx")
    g = cnnc.load_onnx(path)
    assert list(g.output_types().values())[0].shape == (1, 1000, 1, 1)
