"""Where the shipped data folders are: ``templates/`` (Jinja) and ``runtime/`` (C/CUDA).

In the repository they are top-level folders; in an installed wheel they are the data
packages ``cnnc.templates`` and ``cnnc.runtime`` (pyproject.toml maps one onto the other),
so one lookup through importlib.resources serves a source checkout, an editable install
and a wheel alike.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    return Path(str(resources.files("cnnc.templates")))


def runtime_dir() -> Path:
    return Path(str(resources.files("cnnc.runtime")))


def template_env() -> jinja2.Environment:
    """The Jinja environment of every code generator: undefined names are errors, and
    output is byte-identical for the same input (no trailing-whitespace surprises)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)
