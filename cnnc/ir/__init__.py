"""Layer 1: the graph, tensor types, the op registry record, the verifier, C-safe naming."""
from .errors import AttributeError_, CnncError, ShapeError, UnsupportedError, VerifyError
from .graph import Graph, Node, Value
from .limits import LIMITS, Limits
from .kernel import GENERIC, Impl, Isa, Kernel, KernelRequest
from .naming import Namespace, comment_safe, is_c_safe, sanitize
from .opdef import (ANY_OPERAND, REQUIRED, Attr, Attrs, OnnxMap, OpDef, all_ops, always, get_op, if_one_operand,
                    if_same_type, register, unregister)
from .types import TensorType
from .verify import verify

__all__ = ["AttributeError_", "CnncError", "ShapeError", "UnsupportedError", "VerifyError",
           "Graph", "Node", "Value", "LIMITS", "Limits", "GENERIC", "Impl", "Isa", "Kernel", "KernelRequest", "Namespace", "comment_safe", "is_c_safe", "sanitize",
           "ANY_OPERAND", "REQUIRED", "Attr", "Attrs", "OnnxMap", "OpDef", "all_ops", "always", "get_op",
           "if_one_operand", "if_same_type", "register", "unregister", "TensorType",
           "verify"]
