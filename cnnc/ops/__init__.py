"""Layer 2: the op registry. One module per op or small family, each registering its
:class:`~cnnc.ir.OpDef` records on import; this package imports them all."""
import importlib
import pkgutil

from ..ir.opdef import all_ops, get_op

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["all_ops", "get_op"]
