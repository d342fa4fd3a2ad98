"""cnnc Graph → ONNX (opset :data:`EXPORT_OPSET`).

Every node is written by its op's export hook (``OnnxMap.exporter``) or by the generic rule:
the ONNX op of the same name, the op's attributes (those ONNX's schema for that op at the
export opset knows; a cnnc-only attribute must be at its default), and the attributes that
``OnnxMap.const_inputs`` lists written back as initializer inputs.  Ops ONNX lacks
(unshared/tiled convolution, log-sum-exp and distance-weighted pooling, spatial pyramid
pooling, SiLU) export as calls to model-local functions in the ``cnnc`` domain whose bodies
use standard ops only; a function is specialized per configuration (its name carries a
digest of the attributes and operand types), since its body bakes in index constants.
So onnxruntime runs an exported file unchanged, and ``onnx.checker`` with ``full_check``
accepts it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..version import __version__
from ..ir import CnncError, Graph, Node, TensorType, UnsupportedError, Value, get_op

#: the opset exported files declare (GroupNormalization needs 21; onnxruntime 1.17+ runs it)
EXPORT_OPSET = 21
FUNCTION_DOMAIN = "cnnc"


def _np_to_onnx(dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def attr_value(v):
    """An IR attribute value as make_attribute wants it."""
    if isinstance(v, np.ndarray):
        return numpy_helper.from_array(v)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, tuple):
        return list(v)
    return v


class _Body:
    """Where nodes go: the main graph or a function body."""

    def __init__(self, prefix: str):
        self.nodes: list[onnx.NodeProto] = []
        self.prefix = prefix
        self._n = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{self.prefix}{hint}_{self._n}"


class ExportBuilder:
    """The API export hooks write with (see ``OnnxMap``)."""

    def __init__(self, exporter: "Exporter", body: _Body, node: Node | None, types: dict[str, TensorType],
                 operands: Sequence[str] = (), outputs: Sequence[str] = ()):
        self._x, self._body, self.node, self._types = exporter, body, node, types
        self._operands, self._outputs = list(operands), list(outputs)

    @property
    def outputs(self) -> list[str]:
        """The ONNX names the node's results must have (a hook's last emit writes them)."""
        return list(self._outputs)

    def type(self, name: str) -> TensorType:
        return self._types[name]

    def fresh(self, hint: str) -> str:
        """A new tensor name."""
        return self._body.fresh(hint)

    def emit(self, op_type: str, inputs: Sequence[str], attrs: dict | None = None, *,
             outputs: int | Sequence[str] = 1, domain: str = "") -> list[str]:
        """Add an ONNX node; returns its output names (fresh unless given)."""
        outs = ([self._body.fresh(op_type.lower()) for _ in range(outputs)]
                if isinstance(outputs, int) else list(outputs))
        attrs = {k: attr_value(v) for k, v in (attrs or {}).items() if v is not None}
        self._body.nodes.append(helper.make_node(op_type, list(inputs), outs, domain=domain,
                                                 name=self._body.fresh("n"), **attrs))
        return outs

    def const(self, array, hint: str = "c") -> str:
        """A constant tensor: an initializer in the main graph, a Constant node in a function."""
        arr = np.asarray(array)
        if self._body is self._x.main:
            return self._x.initializer(arr, hint)
        (out,) = self.emit("Constant", [], {"value": arr})
        return out

    def function(self, name: str, inputs: Sequence[str], build: Callable, *, outputs: int = 1
                 ) -> list[str]:
        """Call the model-local function ``name`` (defined once by ``build(fb, params)``,
        which returns the body's output names) on ``inputs``."""
        self._x.define_function(name, len(inputs), outputs, build)
        return self.emit(name, inputs, outputs=outputs, domain=FUNCTION_DOMAIN)

    def generic(self, attrs: dict | None = None, inputs: Sequence[str] | None = None,
                outputs: Sequence[str] | None = None) -> list[str]:
        """The generic rule for this builder's node (``attrs`` override its attributes)."""
        return self._x.generic(self, self.node, list(inputs if inputs is not None else self._operands),
                               {**self.node.attrs, **(attrs or {})}, outputs or self._outputs)

    def digest(self, *parts) -> str:
        """A short stable digest of ``parts`` (for specialized function names)."""
        text = repr([(p.tolist() if isinstance(p, np.ndarray) else p) for p in parts])
        return hashlib.sha1(text.encode()).hexdigest()[:10]


class Exporter:
    def __init__(self, graph: Graph, opset: int):
        self.graph, self.opset = graph, opset
        self.main = _Body("t_")
        self.initializers: list[onnx.TensorProto] = []
        self.functions: dict[str, onnx.FunctionProto] = {}
        self._init_names: set[str] = set()

    def initializer(self, arr: np.ndarray, hint: str) -> str:
        name = self.main.fresh(hint)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def define_function(self, name: str, n_in: int, n_out: int, build: Callable) -> None:
        if name in self.functions:
            return
        body = _Body(f"{name}_")
        params = [f"x{i}" for i in range(n_in)]
        outs = build(ExportBuilder(self, body, None, {}), params)
        if len(outs) != n_out:
            raise AssertionError(f"function {name} built {len(outs)} outputs, expected {n_out}")
        # function outputs must be produced by body nodes under their declared names
        final = [f"y{i}" for i in range(n_out)]
        for o, f in zip(outs, final):
            body.nodes.append(helper.make_node("Identity", [o], [f]))
        self.functions[name] = helper.make_function(
            FUNCTION_DOMAIN, name, params, final, body.nodes,
            opset_imports=[helper.make_opsetid("", self.opset)])

    def generic(self, b: ExportBuilder, node: Node, operands: list[str], attrs: dict,
                outputs: list[str]) -> list[str]:
        opdef = get_op(node.op)
        m = opdef.onnx
        op_type = m.op_type or opdef.name
        try:
            schema = onnx.defs.get_schema(op_type, self.opset, m.domain)
        except Exception:
            raise UnsupportedError(f"ONNX has no {op_type} at opset {self.opset}") from None
        const_attrs = {name for name, _ in m.const_inputs.values()}
        out_attrs = {}
        for k, v in attrs.items():
            if v is None or k in const_attrs or k in m.cnnc_only:
                continue
            if k not in schema.attributes:
                if v != opdef.attrs[k].default:
                    raise UnsupportedError(f"attribute {k}={v!r} of {node.op} cannot be written "
                                           f"as ONNX {op_type} (opset {self.opset})")
                continue
            out_attrs[k] = v
        inputs, ops = [], list(operands)
        n_in = len(ops) + len(m.const_inputs)
        for pos in range(n_in):
            if pos in m.const_inputs:
                name, dtype = m.const_inputs[pos]
                value = attrs.get(name)
                if value is None:
                    inputs.append("")
                    continue
                if dtype.startswith("like:"):
                    dtype = b.type(operands[int(dtype[5:])]).dtype
                inputs.append(b.const(np.asarray(value, dtype="float32" if dtype == "float" else dtype), name))
            elif ops:
                inputs.append(ops.pop(0))
        while inputs and inputs[-1] == "":
            inputs.pop()
        return b.emit(op_type, inputs, out_attrs, outputs=outputs, domain=m.domain)


def to_onnx(graph: Graph, *, opset: int = EXPORT_OPSET) -> onnx.ModelProto:
    """The graph as an ONNX model (opset ``opset``), checked with ``full_check``."""
    graph.verify()
    x = Exporter(graph, opset)
    names: dict = {}          # Value -> ONNX tensor name
    types: dict[str, TensorType] = {}
    inputs = []
    out_labels = {v: lbl for lbl, v in reversed(graph.outputs)}
    for n in graph.nodes():
        if n.op == "Input":
            v = graph.inputs[[i.node for i in graph.inputs].index(n.name)]
            names[v] = n.label
            types[n.label] = n.types[0]
            inputs.append(helper.make_tensor_value_info(n.label, _np_to_onnx(n.types[0].dtype), n.types[0].shape))
            continue
        values = [Value(n.name, i) for i in range(len(n.types))]
        outs = [out_labels.get(v) or x.main.fresh(n.name) for v in values]
        for o, t in zip(outs, n.types):
            types[o] = t
        if n.op == "Constant":
            x.initializers.append(numpy_helper.from_array(np.asarray(n.attrs["value"]), outs[0]))
            names[values[0]] = outs[0]
            continue
        operands = [names[v] for v in graph.operands(n.name)]
        b = ExportBuilder(x, x.main, n, types, operands, outs)
        hook = get_op(n.op).onnx.exporter if get_op(n.op).onnx else None
        try:
            produced = hook(n, operands, b) if hook else b.generic()
        except CnncError as e:
            raise e.at(f"exporting {n.where()}") from None
        if list(produced) != outs:
            for p, o in zip(produced, outs):
                x.main.nodes.append(helper.make_node("Identity", [p], [o]))
        names.update(zip(values, outs))
    outputs = []
    for lbl, v in graph.outputs:
        src = names[v]
        if src != lbl:
            x.main.nodes.append(helper.make_node("Identity", [src], [lbl]))
        t = graph.type_of(v)
        outputs.append(helper.make_tensor_value_info(lbl, _np_to_onnx(t.dtype), t.shape))
    onnx_graph = helper.make_graph(x.main.nodes, graph.name, inputs, outputs, x.initializers)
    opsets = [helper.make_opsetid("", opset)]
    if x.functions:
        opsets.append(helper.make_opsetid(FUNCTION_DOMAIN, 1))
    model = helper.make_model(onnx_graph, opset_imports=opsets, functions=list(x.functions.values()),
                              producer_name="cnnc", producer_version=__version__)
    model.ir_version = min(model.ir_version, 10)  # what onnxruntime 1.17+ reads
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        raise CnncError(f"exported model of {graph.name!r} fails onnx.checker: {e}") from None
    return model


def save_onnx(graph: Graph, path: str | os.PathLike, *, opset: int = EXPORT_OPSET) -> Path:
    """Write ``to_onnx(graph)`` to ``path`` atomically: a failed export leaves no file."""
    model = to_onnx(graph, opset=opset)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would make it (mkstemp's file is 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
