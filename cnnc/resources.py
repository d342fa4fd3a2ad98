"""Where the shipped data folders are: ``templates/`` (Jinja) and ``runtime/`` (C/CUDA).

In the repository they are top-level folders beside ``cnnc/`` (a source checkout or an
editable install finds them there); in a built wheel pyproject.toml places them inside
the package as ``cnnc/templates`` and ``cnnc/runtime``.  The installed location wins.
"""
from __future__ import annotations

from pathlib import Path

import jinja2

from .ir import CnncError

_PKG = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise CnncError(f"cnnc's {name}/ folder is missing from this installation ({_PKG}); "
                    "reinstall cnnc")


def templates_dir() -> Path:
    return _data_dir("templates")


def runtime_dir() -> Path:
    return _data_dir("runtime")


def template_env() -> jinja2.Environment:
    """The Jinja environment of every code generator: undefined names are errors, and
    output is byte-identical for the same input (no trailing-whitespace surprises)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False,
                              extensions=["jinja2.ext.do"])
