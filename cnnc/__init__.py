"""cnnc — a compiler for convolutional neural networks.

    import cnnc
    g = cnnc.load_onnx("model.onnx", input_shapes={"images": (1, 3, 320, 320)})
    m = cnnc.compile(g, target="reference")
    outs = m.run({"images": x})
"""
from . import ops  # noqa: F401  (registers every op)
from .version import __version__
from .backends import compile  # noqa: A004
from .ir import LIMITS, CnncError, Graph, TensorType, Value, VerifyError
from .onnx import load_onnx, save_onnx, to_onnx
from .passes import optimize
from .verify import OutputCheck, VerifyReport, verify

__all__ = ["compile", "optimize", "verify", "VerifyReport", "OutputCheck", "load_onnx", "save_onnx", "to_onnx", "LIMITS", "CnncError", "Graph", "TensorType", "Value", "VerifyError", "__version__"]
