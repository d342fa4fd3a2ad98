"""Layer 1: the graph, tensor types, the op registry record, the verifier, C-safe naming."""
import sys as _sys

# Every part of cnnc imports this layer first.  A folder named "cnnc" without an
# __init__.py (a clone of the repository, say) in the script's or the current directory is
# found by `import cnnc` before the installed package, as a namespace package: cnnc's own
# __init__ (which registers the ops) never runs, and the first DSL call would fail with
# "unknown op 'Input'".  Say so instead.
_root = _sys.modules.get("cnnc")
if _root is not None and getattr(_root, "__file__", None) is None:
    _where = ", ".join(getattr(_root, "__path__", ())) or "a folder"
    raise ImportError(f"`import cnnc` found {_where}, a folder named cnnc without an __init__.py (a namespace "
                      "package), before the cnnc package: a clone of the cnnc repository beside the script, or "
                      "in the current directory, shadows it.  Run the script from another directory, rename the "
                      "clone folder, or put the script inside the clone.")
from .errors import AttributeError_, CnncError, ShapeError, UnsupportedError, VerifyError
from .graph import Graph, Node, Value
from .limits import LIMITS, Limits
from .kernel import GENERIC, Impl, Isa, Kernel, KernelRequest
from .naming import Namespace, comment_safe, is_c_safe, sanitize
from .opdef import (ACT, ANY_OPERAND, KEEP, REQUIRED, Attr, Attrs, Blocked, OnnxMap, OpDef, all_ops, always,
                    any_layout, get_op, if_one_operand, if_same_type, register, same_shapes, unregister)
from .types import TensorType
from .verify import verify

__all__ = ["AttributeError_", "CnncError", "ShapeError", "UnsupportedError", "VerifyError",
           "Graph", "Node", "Value", "LIMITS", "Limits", "GENERIC", "Impl", "Isa", "Kernel", "KernelRequest", "Namespace", "comment_safe", "is_c_safe", "sanitize",
           "ACT", "ANY_OPERAND", "KEEP", "REQUIRED", "Attr", "Attrs", "Blocked", "OnnxMap", "OpDef", "all_ops",
           "always", "any_layout", "get_op", "if_one_operand", "if_same_type", "register", "same_shapes",
           "unregister", "TensorType",
           "verify"]
