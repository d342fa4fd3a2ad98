"""ONNX → cnnc Graph.

One walk over the nodes in file order.  Each node is converted by the import hook its op
declares (``OpDef.onnx``, chosen by the model's opset) or by the generic rule; import-time
ops (``fold.py``: Constant, Shape, ...) become constants.  Any op whose operands are all
constants is evaluated right away with its numpy reference, which folds the Shape →
Gather → Concat → Reshape sub-graphs of PyTorch/Paddle exports once input shapes are
fixed.  Constants become Constant nodes only where a run-time op consumes them.

Errors are collected, not raised at the first: every unsupported op, attribute value or
dtype, and every node that fails to convert, is listed in one CnncError naming the file,
the node, its op and the opset.  A node downstream of a failed one is still checked for
support, so three unsupported ops in a chain give three lines.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import ModelProto, helper, numpy_helper

from ..ir import CnncError, Graph, TensorType, UnsupportedError, Value, all_ops, get_op
from ..ir.limits import ConstantBudget
from ..ir.naming import comment_safe
from ..ir.types import DTYPES
from . import fold
from .loader import load_model


#: the newest ONNX opset whose operator versions cnnc knows (older ones are read through each
#: op's versioned converters)
MAX_OPSET = 28


def onnx_ops() -> dict[str, Any]:
    """ONNX op_type (default domain) → OpDef, for every op with an ONNX mapping."""
    table = {}
    for op in all_ops().values():
        if op.onnx is not None and op.onnx.domain == "":
            table[op.onnx.op_type or op.name] = op
    return table


def np_dtype(elem_type: int) -> str:
    try:
        name = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name
    except Exception:
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type in onnx.TensorProto.DataType.values() else str(elem_type)
    if name not in DTYPES:
        raise UnsupportedError(f"element type {name} is not supported (cnnc handles "
                               f"{', '.join(DTYPES)})")
    return name


class Ref:
    """A value during import: a known constant array, or a run-time value of the graph."""

    __slots__ = ("array", "value", "label")

    def __init__(self, array: np.ndarray | None = None, value: Value | None = None, label: str = "const"):
        self.array, self.value, self.label = array, value, label

    @property
    def is_const(self) -> bool:
        return self.array is not None


@dataclass
class OnnxNode:
    """What an import hook sees of one ONNX node: decoded attributes, no protobuf."""

    op_type: str
    name: str
    attrs: dict[str, Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    opset: int

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def has_input(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] != ""


def tensor_array(t: onnx.TensorProto, budget: ConstantBudget | None = None) -> np.ndarray:
    """A TensorProto's value, checked first: a supported element type, dims whose size is
    within the limits (``cnnc.LIMITS``; ``budget``: the import's constants so far), and data
    of exactly that many elements."""
    dtype = np_dtype(t.data_type)
    dims = tuple(t.dims)
    if any(d < 0 for d in dims):
        raise CnncError(f"dims {list(dims)} has a negative extent")
    ttype = TensorType(dims, dtype)  # the size limit
    if budget is not None:
        budget.reserve(ttype.nbytes, f"tensor {comment_safe(t.name)!r}")
    if t.HasField("raw_data") and t.data_type != onnx.TensorProto.STRING and len(t.raw_data) != ttype.nbytes:
        raise CnncError(f"holds {len(t.raw_data)} bytes of raw data, but dims {list(dims)} of {dtype} take "
                        f"{ttype.nbytes}")
    try:
        return numpy_helper.to_array(t)
    except Exception as e:  # typed data fields of the wrong length, and the like
        raise CnncError(f"its data does not match dims {list(dims)} of {dtype} ({type(e).__name__}: "
                        f"{str(e)[:120]})") from None


def decode_attr(a: onnx.AttributeProto, budget: ConstantBudget | None = None) -> Any:
    try:
        v = helper.get_attribute_value(a)
    except Exception as e:
        raise CnncError(f"attribute {a.name!r} cannot be read ({type(e).__name__}: {str(e)[:120]})") from None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, onnx.TensorProto):
        try:
            return tensor_array(v, budget)
        except CnncError as e:
            raise CnncError(f"attribute {a.name!r}: tensor {comment_safe(v.name)!r} {e.detail}") from None
    if isinstance(v, list):
        return tuple(x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v)
    return v


def to_attr_value(kind: str, array: np.ndarray) -> Any:
    """An attribute value of ``kind`` from a constant ONNX input."""
    a = np.asarray(array)
    if kind == "tensor":
        return a
    if kind in ("ints", "floats", "strs"):
        return tuple(a.reshape(-1).tolist())
    if a.size != 1:
        raise CnncError(f"expected a scalar, got a tensor of shape {a.shape}")
    return a.reshape(()).item()


class ImportBuilder:
    """The API import hooks build with (see ``OnnxMap``)."""

    def __init__(self, graph: Graph, node: OnnxNode, env: dict[str, Ref], where: str,
                 budget: ConstantBudget | None = None):
        self.graph, self.node, self._env, self.where = graph, node, env, where
        self.budget = budget if budget is not None else ConstantBudget()
        self._consts: dict[int, Value] = {}
        self._opdef = None  # the OpDef being imported (set by _convert)

    # -- reading the node's inputs
    def input(self, i: int) -> Ref:
        return self._env[self.node.inputs[i]]

    def const_input(self, i: int, what: str | None = None) -> np.ndarray:
        """The constant value of input ``i``; an error if it is only known at run time."""
        ref = self.input(i)
        if not ref.is_const:
            names = _inputs_upstream(self.graph, ref.value)
            listed = ", ".join(map(repr, names)) or "?"
            first = names[0] if names else "NAME"
            raise UnsupportedError(
                f"input {i} ({what or self.node.inputs[i]!r}) must be a constant: cnnc compiles "
                f"static shapes ahead of time, and it is computed from graph input{'s' * (len(names) > 1)} "
                f"{listed}; bind {'their values' if len(names) > 1 else 'its value'} with "
                f"load_onnx(..., constants={{{first!r}: array}}) (CLI: --bind {first}=file.npy or "
                f"--bind {first}=1,2,3)")
        return ref.array

    def reserve(self, t: TensorType) -> None:
        """Count a constant of type ``t`` against the import's budget before it is made."""
        self.budget.reserve(t.nbytes, f"a constant {t}")

    def type(self, ref: Ref) -> TensorType:
        return TensorType.of(ref.array) if ref.is_const else self.graph.type_of(ref.value)

    # -- making values
    def const(self, array, label: str | None = None) -> Ref:
        return Ref(array=np.asarray(array), label=label or self._label())

    def op(self, op: str, operands: Sequence[Ref], attrs: Mapping | None = None,
           *, label: str | None = None) -> Ref | list[Ref]:
        """Apply cnnc op ``op``; folded to constants when every operand is one."""
        opdef = get_op(op)
        label = label or self._label()
        if operands and all(r.is_const for r in operands):
            arrays = [r.array for r in operands]
            canon = opdef.make_attrs(attrs, [TensorType.of(a) for a in arrays])
            opdef.check_arity(len(arrays))
            types = opdef.infer([TensorType.of(a) for a in arrays], canon)
            for t in types:
                self.reserve(t)
            with np.errstate(all="ignore"):
                outs = opdef.run(arrays, canon)
            refs = [Ref(array=np.asarray(o).astype(t.dtype, copy=False).reshape(t.shape), label=label)
                    for o, t in zip(outs, types)]
        else:
            vals = [self._materialize(r) for r in operands]
            outs = self.graph.add_node(op, vals, attrs, label=label, source=self.where)
            refs = [Ref(value=v, label=label) for v in outs]
        return refs[0] if len(refs) == 1 else refs

    def generic(self, attrs: Mapping | None = None, skip: Sequence[int] = ()) -> Ref | list[Ref]:
        """The generic rule of ``OnnxMap`` for this node; ``attrs`` override the node's, and
        the ONNX inputs at positions ``skip`` are left out (a hook has consumed them)."""
        return generic_import(self._opdef, self.node, self, attrs, skip)

    def _materialize(self, ref: Ref) -> Value:
        if ref.value is None:
            key = id(ref.array)
            if key not in self._consts:
                self._consts[key] = self.graph.add_constant(ref.array, ref.label, source=self.where)
            ref.value = self._consts[key]
        return ref.value

    def _label(self) -> str:
        return self.node.name or next((o for o in self.node.outputs if o), self.node.op_type)


def generic_import(opdef, node: OnnxNode, b: ImportBuilder, override: Mapping | None = None,
                   skip: Sequence[int] = ()):
    m = opdef.onnx
    attrs = dict(node.attrs)
    if override:
        attrs.update(override)
    attrs = {k: v for k, v in attrs.items() if v is not None}
    unknown = sorted(set(attrs) - set(opdef.attrs))
    if unknown:
        raise UnsupportedError(f"attribute(s) {', '.join(unknown)} not supported (cnnc's "
                               f"{opdef.name} takes {', '.join(opdef.attrs) or 'none'})")
    for pos, (name, _) in m.const_inputs.items():
        if node.has_input(pos) and pos not in skip:
            attrs[name] = to_attr_value(opdef.attrs[name].kind, b.const_input(pos, name))
    operands, gap = [], None
    for i in range(node.num_inputs):
        if i in m.const_inputs or i in skip:
            continue
        if not node.has_input(i):
            gap = i
            continue
        if gap is not None:
            raise UnsupportedError(f"optional input {gap} is omitted but input {i} is given")
        operands.append(b.input(i))
    return b.op(opdef.name, operands, attrs)


def _shape_spec(name: str, given) -> tuple[int, ...]:
    """``input_shapes[name]`` as a tuple of ints, or a CnncError saying what was expected."""
    ok = not isinstance(given, (str, bytes)) and hasattr(given, "__iter__")
    dims = tuple(given) if ok else ()
    if not ok or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise CnncError(f"input_shapes[{comment_safe(name)!r}] must be a sequence of non-negative ints, "
                        f"e.g. (1, 3, 224, 224); got {comment_safe(repr(given), 60)}")
    return tuple(int(d) for d in dims)


def _shape_of(vi, input_shapes: Mapping, where: str) -> TensorType:
    t = vi.type.tensor_type
    dtype = np_dtype(t.elem_type)
    dims = list(t.shape.dim) if t.HasField("shape") else None
    given = input_shapes.get(vi.name)
    if given is not None:
        given = _shape_spec(vi.name, given)
        if dims is not None and len(dims) != len(given):
            raise CnncError(f"input_shapes gives {vi.name!r} rank {len(given)}, the model "
                            f"declares rank {len(dims)}")
        for i, (d, g) in enumerate(zip(dims or (), given)):
            if _fixed(d) and d.dim_value != g:
                raise CnncError(f"input_shapes gives {vi.name!r} dim {i} = {g}, the model fixes it "
                                f"to {d.dim_value}")
        return TensorType(given, dtype)
    if dims is None:
        raise CnncError(f"input {vi.name!r} has no shape; give it with input_shapes="
                        f"{{{vi.name!r}: (...)}} (CLI: --input-shape {vi.name}=...)")
    free = [i for i, d in enumerate(dims) if not _fixed(d)]
    if free:
        def spell(i, d):
            return (d.dim_param if d.dim_param.isidentifier() else f"d{i}") if i in free else str(d.dim_value)
        parts = [spell(i, d) for i, d in enumerate(dims)]
        which = ", ".join(f"{i}" + (f" ({comment_safe(dims[i].dim_param, 30)!r})" if dims[i].dim_param else "")
                          for i in free)
        raise CnncError(f"input {comment_safe(vi.name)!r} dim{'s' * (len(free) > 1)} {which} "
                        f"{'are' if len(free) > 1 else 'is'} symbolic; bind "
                        f"{'them' if len(free) > 1 else 'it'} with input_shapes={{{comment_safe(vi.name)!r}: "
                        f"({', '.join(parts)})}} (CLI: --input-shape {comment_safe(vi.name)}={','.join(parts)}), "
                        "each symbol replaced by its size")
    return TensorType(tuple(d.dim_value for d in dims), dtype)


def _fixed(d) -> bool:
    """Whether a dim is a fixed size: a dim_value of 0 or more (some exporters write -1, or
    nothing, for a free dim)."""
    return d.HasField("dim_value") and d.dim_value >= 0


def _bound_value(vi, given) -> np.ndarray:
    """``constants[vi.name]`` as an array of the input's declared dtype and a shape that
    agrees with its declared fixed dims; else a CnncError saying what was expected."""
    t = vi.type.tensor_type
    dtype = np_dtype(t.elem_type)
    try:
        arr = np.asarray(given)
    except (TypeError, ValueError) as e:
        raise CnncError(f"the value bound to it (constants / --bind) is not an array ({e})") from None
    if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and np.dtype(dtype).kind in "iub"
                                        and not np.array_equal(arr, np.round(arr))):
        raise CnncError(f"the value bound to it (constants / --bind) has dtype {arr.dtype}"
                        f"{' with fractions' if arr.dtype.kind == 'f' else ''}; the input is {dtype}")
    cast = arr.astype(dtype)
    if np.dtype(dtype).kind in "iub" and not np.array_equal(cast.astype(arr.dtype), arr):
        raise CnncError(f"the value bound to it (constants / --bind) does not fit its dtype {dtype}")
    dims = list(t.shape.dim) if t.HasField("shape") else None
    if dims is not None and not dims and cast.size == 1:
        cast = cast.reshape(())  # a scalar input given as one number
    if dims is not None and (len(dims) != cast.ndim
                             or any(_fixed(d) and d.dim_value != n for d, n in zip(dims, cast.shape))):
        declared = tuple(d.dim_value if _fixed(d) else (d.dim_param or "?") for d in dims)
        raise CnncError(f"the value bound to it (constants / --bind) has shape {cast.shape}; the input is "
                        f"declared {declared}")
    return cast


def _inputs_upstream(graph: Graph, value: Value) -> list[str]:
    """The graph inputs ``value`` is computed from (names, in graph order)."""
    seen, stack, found = set(), [value], set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        node = graph.node(v.node)
        if node.op == "Input":
            found.add(v)
        stack.extend(graph.operands(node.name))
    return [graph.node(v.node).label for v in graph.inputs if v in found]


def load_onnx(source: str | os.PathLike | ModelProto, input_shapes: Mapping | None = None,
              *, constants: Mapping | None = None, name: str | None = None) -> Graph:
    """Import an ONNX model (a path or a ModelProto) as a verified cnnc Graph.

    ``input_shapes`` maps graph-input names to concrete shapes; it binds symbolic dims and
    may override declared ones (their fixed dims must agree).  ``constants`` maps graph-input
    names to values (arrays of the input's dtype and declared shape): those inputs become
    constants of the model, as a model whose Pad ``pads``, Clip bounds, Resize ``sizes`` or
    Reshape ``shape`` come from an input needs (CLI: ``--bind NAME=file.npy``).
    """
    model, where = load_model(source)
    if input_shapes is not None and not isinstance(input_shapes, Mapping):
        raise CnncError(f"input_shapes must map input names to shapes, got {type(input_shapes).__name__}")
    if constants is not None and not isinstance(constants, Mapping):
        raise CnncError(f"constants must map input names to arrays, got {type(constants).__name__}")
    input_shapes, constants = dict(input_shapes or {}), dict(constants or {})
    both = sorted(set(input_shapes) & set(constants))
    if both:
        raise CnncError(f"{where}: {', '.join(map(repr, both))} given both a shape (input_shapes) and a value "
                        "(constants); a bound value fixes the shape")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise CnncError(f"{where}: the model imports no version of the default ONNX domain")
    if not 1 <= opset <= MAX_OPSET:
        raise CnncError(f"{where}: the model uses ONNX opset {opset}; cnnc reads opsets 1 to {MAX_OPSET}"
                        + (" (a newer opset than cnnc knows: export the model for opset "
                           f"{MAX_OPSET} or older)" if opset > MAX_OPSET else ""))
    g = model.graph
    graph = Graph(name or g.name or (Path(where).stem if not isinstance(source, ModelProto) else "model"))
    errors: list[str] = []
    env: dict[str, Ref] = {}
    budget = ConstantBudget()

    for t in g.initializer:
        try:
            env[t.name] = Ref(array=tensor_array(t, budget), label=t.name)
        except CnncError as e:
            errors.append(f"initializer {comment_safe(t.name)!r}: {e.detail}")
    init_names = {t.name for t in g.initializer}
    real_inputs = [vi for vi in g.input if vi.name not in init_names]
    for what, given in (("input_shapes (--input-shape)", input_shapes), ("constants (--bind)", constants)):
        unknown = sorted(set(given) - {vi.name for vi in real_inputs})
        if unknown:
            raise CnncError(f"{where}: {what} names {', '.join(map(repr, unknown))}, which "
                            f"{'is' if len(unknown) == 1 else 'are'} not a graph input; inputs are "
                            f"{', '.join(repr(vi.name) for vi in real_inputs)}")
    for vi in real_inputs:
        try:
            if vi.name in constants:
                env[vi.name] = Ref(array=_bound_value(vi, constants[vi.name]), label=vi.name)
                budget.reserve(env[vi.name].array.nbytes, f"the bound value of input {comment_safe(vi.name)!r}")
            else:
                env[vi.name] = Ref(value=graph.add_input(vi.name, _shape_of(vi, input_shapes, where)), label=vi.name)
        except CnncError as e:
            errors.append(f"graph input {comment_safe(vi.name)!r}: {e.detail}")

    table = onnx_ops()
    consumed = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for proto in g.node:
        label = comment_safe(proto.name or (proto.output[0] if proto.output else "?"), 60)
        nwhere = f"node {label!r} ({comment_safe(proto.op_type, 40)}, opset {opset})"
        try:
            node = OnnxNode(proto.op_type, proto.name, {a.name: decode_attr(a, budget) for a in proto.attribute},
                            tuple(proto.input), tuple(proto.output), opset)
            if proto.domain not in ("", "ai.onnx"):
                raise UnsupportedError(f"op domain {proto.domain!r} is not supported")
            if proto.op_type not in table and proto.op_type not in fold.FOLDERS:
                raise UnsupportedError(f"op {proto.op_type} is not supported")
            if any(i and i not in env for i in proto.input):
                _check_statically(node, table)  # downstream of a failed node: no operands
                continue
            b = ImportBuilder(graph, node, env, f"{where}: {nwhere}", budget)
            outs = _convert(node, b, table)
            outs = outs if isinstance(outs, list) else [outs]
            for i, name in enumerate(proto.output):
                if not name:
                    continue
                if i < len(outs):
                    env[name] = outs[i]
                elif name in consumed:
                    raise UnsupportedError(f"output {i} ({comment_safe(name)!r}) is used, but cnnc's "
                                           f"{proto.op_type} produces only {len(outs)} output(s)")
        except CnncError as e:
            errors.append(f"{nwhere}: {e.detail}")
        except (ArithmeticError, ValueError, TypeError, IndexError, KeyError, MemoryError, RecursionError) as e:
            # a node that slipped past its op's checks: still one error naming it
            errors.append(f"{nwhere}: cnnc internal error converting it ({type(e).__name__}: {str(e)[:160]}); "
                          "please report it with the model")

    if not errors:
        for o in g.output:
            if o.name not in env:
                errors.append(f"graph output {comment_safe(o.name)!r} is produced by no node")
                continue
            ref = env[o.name]
            try:
                if ref.is_const:
                    ref.value = graph.add_constant(ref.array, o.name)
                _check_declared(o, graph.type_of(ref.value))
                graph.add_output(ref.value, o.name)
            except CnncError as e:
                errors.append(f"graph output {comment_safe(o.name)!r}: {e.detail}")
    if errors:
        n = len(errors)
        raise CnncError(f"{where}: cannot import the model ({n} problem{'s' * (n > 1)}):\n  - "
                        + "\n  - ".join(errors))
    return graph.verify()


def _check_declared(vi, inferred: TensorType) -> None:
    """A graph output's declared element type and shape (where the file gives them) must
    be what cnnc infers: a disagreement means the file or cnnc is wrong, so it is reported."""
    if not vi.type.HasField("tensor_type"):
        return
    t = vi.type.tensor_type
    if t.elem_type == onnx.TensorProto.UNDEFINED:
        raise CnncError("its declared element type is 0 (UNDEFINED)")
    declared = np_dtype(t.elem_type)
    if declared != inferred.dtype:
        raise CnncError(f"declared as {declared}, but the graph computes {inferred.dtype}")
    if not t.HasField("shape"):
        return
    dims = list(t.shape.dim)
    shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
    if len(dims) != inferred.rank or any(_fixed(d) and d.dim_value != n for d, n in zip(dims, inferred.shape)):
        raise CnncError(f"declared with shape {shown}, but the graph computes {list(inferred.shape)}")


def _check_statically(node: OnnxNode, table) -> None:
    """What can be checked of a node without its operands: its attribute names, where the
    generic rule imports it."""
    opdef = table.get(node.op_type)
    if opdef is None or opdef.onnx.importer_for(node.opset) is not None:
        return
    unknown = sorted(set(node.attrs) - set(opdef.attrs))
    if unknown:
        raise UnsupportedError(f"attribute(s) {', '.join(unknown)} not supported (cnnc's "
                               f"{opdef.name} takes {', '.join(opdef.attrs) or 'none'})")


def _convert(node: OnnxNode, b: ImportBuilder, table):
    if node.op_type in fold.FOLDERS:
        return fold.FOLDERS[node.op_type](node, b)
    opdef = b._opdef = table[node.op_type]
    hook = opdef.onnx.importer_for(node.opset)
    return hook(node, b) if hook is not None else generic_import(opdef, node, b)

