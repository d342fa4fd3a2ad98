"""Layer 5: ONNX import (``load_onnx``) and export (``to_onnx``, ``save_onnx``)."""
from .exporter import EXPORT_OPSET, save_onnx, to_onnx
from .importer import load_onnx

__all__ = ["load_onnx", "to_onnx", "save_onnx", "EXPORT_OPSET"]
