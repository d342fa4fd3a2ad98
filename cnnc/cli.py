"""The command line: ``cnnc show|run|ops``.

A MODEL is a Python file defining ``build() -> cnnc.Graph`` (the examples do), or a
module-level ``graph``.  Every CnncError is printed as one line, ``cnnc: error: ...``,
with exit status 1 — never a traceback.
"""
from __future__ import annotations

import argparse
import runpy
import sys
import time
from pathlib import Path

import numpy as np

from .version import __version__
from .backends import TARGETS, compile
from .ir import CnncError, Graph, all_ops, sanitize


def load_model(path: str) -> Graph:
    p = Path(path)
    if not p.is_file():
        raise CnncError(f"model file {path!r} does not exist")
    if p.suffix != ".py":
        raise CnncError(f"{path}: unsupported model file type {p.suffix!r}; cnnc reads "
                        "Python model files (.py defining build())")
    try:
        ns = runpy.run_path(str(p), run_name="__cnnc_model__")
    except CnncError:
        raise
    except SyntaxError as e:
        raise CnncError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    if callable(ns.get("build")):
        g = ns["build"]()
    elif isinstance(ns.get("graph"), Graph):
        g = ns["graph"]
    else:
        raise CnncError(f"{path}: defines neither build() nor a module-level `graph`")
    if not isinstance(g, Graph):
        raise CnncError(f"{path}: build() returned {type(g).__name__}, expected a cnnc.Graph")
    return g


def _parse_inputs(specs, model) -> dict[str, np.ndarray]:
    feeds = {}
    for spec in specs or ():
        name, sep, file = spec.partition("=")
        if not sep:
            raise CnncError(f"--input expects NAME=FILE.npy, got {spec!r}")
        try:
            feeds[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CnncError(f"--input {name}: cannot read {file!r} as .npy: {e}") from None
    rng = np.random.default_rng(0)
    for name, t in model.inputs.items():
        if name not in feeds:
            feeds[name] = rng.standard_normal(t.shape).astype(t.dtype)
    return feeds


def cmd_show(args) -> int:
    g = load_model(args.model).verify()
    print(g.dump())
    return 0


def cmd_run(args) -> int:
    g = load_model(args.model)
    model = compile(g, target=args.target)
    feeds = _parse_inputs(args.input, model)
    t0 = time.perf_counter()
    outs = model.run(feeds)
    ms = (time.perf_counter() - t0) * 1e3
    print(f"{g.name}: {len(g)} nodes, target {args.target}, ran in {ms:.1f} ms")
    for name, t in model.inputs.items():
        given = "given" if args.input and any(s.startswith(name + "=") for s in args.input) else "random"
        print(f"  input  {name}: {t} ({given})")
    for name, arr in outs.items():
        flat = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)
        print(f"  output {name}: {arr.dtype.name}{list(arr.shape)} mean={arr.mean():.5g} "
              f"std={arr.std():.5g} argmax={int(flat[0].argmax())}")
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
            np.save(Path(args.save) / f"{sanitize(name)}.npy", arr)
    return 0


def cmd_ops(args) -> int:
    for name, op in sorted(all_ops().items()):
        attrs = ", ".join(op.attrs)
        print(f"{name:22s} ({', '.join(op.inputs)}){' {' + attrs + '}' if attrs else ''}  {op.doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cnnc", description="A compiler for convolutional neural networks.")
    p.add_argument("--version", action="version", version=f"cnnc {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("show", help="print a model's IR")
    s.add_argument("model")
    s.set_defaults(fn=cmd_show)
    r = sub.add_parser("run", help="compile a model and run it once (random inputs unless given)")
    r.add_argument("model")
    r.add_argument("--target", default="reference", choices=sorted(TARGETS))
    r.add_argument("--input", action="append", metavar="NAME=FILE.npy")
    r.add_argument("--save", metavar="DIR", help="write each output to DIR/<name>.npy")
    r.set_defaults(fn=cmd_run)
    o = sub.add_parser("ops", help="list the registered ops")
    o.set_defaults(fn=cmd_ops)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except CnncError as e:
        print(f"cnnc: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `cnnc show model.py | head`: the reader left; that is fine
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
