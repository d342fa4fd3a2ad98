"""The command line: ``cnnc compile|tune|run|show|export|ops``.

A MODEL is an ONNX file (symbolic dims bound with ``--input-shape NAME=d0,d1,..``), or a
Python file defining ``build() -> cnnc.Graph`` (the examples do) or a module-level ``graph``.  Every CnncError is printed as one line, ``cnnc: error: ...``,
with exit status 1 — never a traceback.
"""
from __future__ import annotations

import argparse
import runpy
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .version import __version__
from .backends import TARGETS, compile, load, op_targets, parse_impl, write
from .backends.base import read_manifest
from .ir import CnncError, Graph, all_ops, sanitize
from .onnx import EXPORT_OPSET, load_onnx, save_onnx
from .passes import LEVELS, graph_flops, optimize


def parse_input_shapes(specs) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for spec in specs or ():
        name, sep, dims = spec.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) < 0:
            raise CnncError(f"--input-shape expects NAME=d0,d1,... (non-negative ints), got {spec!r}")
        shapes[name] = shape
    return shapes


def parse_bindings(specs) -> dict[str, np.ndarray]:
    """``--bind NAME=file.npy`` or ``--bind NAME=1,2,3`` (a 1-D list of numbers) as
    ``load_onnx``'s ``constants``."""
    values = {}
    for spec in specs or ():
        name, sep, text = spec.partition("=")
        if not sep or not name or not text:
            raise CnncError(f"--bind expects NAME=FILE.npy or NAME=v0,v1,... got {spec!r}")
        if text.endswith(".npy"):
            try:
                values[name] = np.load(text, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise CnncError(f"--bind {name}: cannot read {text!r} as .npy: {e}") from None
            continue
        items = [v.strip() for v in text.split(",") if v.strip()]
        try:
            values[name] = np.array([int(v) for v in items], np.int64)
        except ValueError:
            try:
                values[name] = np.array([float(v) for v in items], np.float64)
            except ValueError:
                raise CnncError(f"--bind {name}: {text!r} is neither a .npy file nor a list of numbers") from None
    return values


def load_model(path: str, input_shapes=None, constants=None) -> Graph:
    p = Path(path)
    if p.is_dir():
        raise CnncError(f"{path}: is a folder; this command takes a model file (.onnx, or .py defining build()); "
                        "`cnnc show DIR` and `cnnc run DIR` read a model folder written by `cnnc compile -o DIR`")
    if not p.is_file():
        raise CnncError(f"model file {path!r} does not exist")
    if p.suffix == ".onnx":
        return load_onnx(p, input_shapes, constants=constants)
    if p.suffix != ".py":
        raise CnncError(f"{path}: unsupported model file type {p.suffix!r}; cnnc reads ONNX "
                        "files (.onnx) and Python model files (.py defining build())")
    if input_shapes or constants:
        raise CnncError(f"{'--input-shape' if input_shapes else '--bind'} applies to ONNX models; a Python "
                        "model fixes its own shapes and constants")
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


def show_folder(folder: Path) -> str:
    """What ``cnnc show DIR`` prints of a model folder: its manifest, and its files."""
    manifest, inputs, outputs = read_manifest(folder)
    lines = [f"{folder}: cnnc model folder of {manifest['model']!r} for target {manifest['target']}"]
    for key in ("cpu", "workers", "arch", "arena_bytes", "library", "source"):
        if key in manifest:
            lines.append(f"  {key}: {manifest[key]}")
    lines += [f"  input  {n}: {t}" for n, t in inputs.items()]
    lines += [f"  output {n}: {t}" for n, t in outputs.items()]
    files = sorted(p for p in folder.iterdir() if p.is_file())
    lines.append("  files: " + ", ".join(f"{p.name} ({p.stat().st_size} B)" for p in files))
    return "\n".join(lines)


def cmd_show(args) -> int:
    if Path(args.model).is_dir():
        if args.input_shape:
            raise CnncError("--input-shape applies to ONNX models; a model folder has fixed shapes")
        print(show_folder(Path(args.model)))
        return 0
    g = load_model(args.model, parse_input_shapes(args.input_shape), parse_bindings(args.bind)).verify()
    if args.summary:
        from .summary import summarize
        print(summarize(optimize(g, level=args.level), cpu=args.cpu or "native", threads=args.threads).table())
        return 0
    if args.memory is not None:
        from .passes.memory import plan_memory
        from .passes.render import memory_svg
        opt = optimize(g, level=args.level)
        plan = plan_memory(opt, concat_slices=True)
        out = Path(args.memory or f"{sanitize(g.name)}_memory.svg")
        out.write_text(memory_svg(plan, opt))
        print(plan.summary())
        print(f"wrote {out} (the arena timeline: buffers over the node order and the arena's bytes, the lower "
              "bound marked)")
        return 0
    print(g.dump())
    return 0


def cmd_export(args) -> int:
    g = load_model(args.model, parse_input_shapes(args.input_shape), parse_bindings(args.bind))
    out = save_onnx(g, args.output)
    print(f"wrote {out} (ONNX opset {EXPORT_OPSET}, {len(g)} nodes)")
    return 0


def _optimized(args) -> Graph:
    g = load_model(args.model, parse_input_shapes(args.input_shape), parse_bindings(args.bind))
    passes = [p for p in args.passes.split(",") if p] if args.passes is not None else None
    g, report = optimize(g, level=args.level, passes=passes, dump_ir=args.dump_ir, report=True)
    if report.stats and args.verbose and not args.quiet:
        print(report)
    return g


def cmd_compile(args) -> int:
    g = _optimized(args)
    flops = graph_flops(g)
    summary = f"{g.name}: {len(g)} nodes, {flops / 1e6:.1f} MFLOPs" + (
        f", IR dumps in {args.dump_ir}" if args.dump_ir else "")
    if args.target == "reference":
        if args.output is not None:
            raise CnncError("the reference target writes no files; `cnnc export` writes ONNX")
        compile(g, target="reference")
        print(f"{summary}; compiled for reference")
        return 0
    if args.output is None:
        raise CnncError(f"--target {args.target} writes a model folder: give it with -o DIR")
    options = {k: v for k in _folder_options() if (v := getattr(args, k, None)) not in (None, False)}
    folder, built = write(g, args.target, args.output, source=args.model, force=args.force, **options)
    print(f"{summary}; wrote {folder}{'; ' + built if built else ''}")
    return 0


def cmd_tune(args) -> int:
    g = _optimized(args)
    from .backends import tvm as tvm_backend
    t0 = time.perf_counter()
    db = tvm_backend.tune(g, args.db, kind=args.target, trials=args.trials, trials_per_task=args.trials_per_task,
                          arch=args.arch, minutes=args.minutes, threads=args.threads)
    kernels, measured, failed = tvm_backend.tuning_summary(db)
    print(f"{g.name}: tuned for {args.target} in {time.perf_counter() - t0:.0f} s; {db} holds {measured} measured "
          f"candidates ({failed} failed) of {kernels} kernels; apply it with "
          f"`cnnc compile --target {args.target} --db {db}`")
    return 0


def cmd_run(args) -> int:
    if Path(args.model).is_dir():
        g, model = None, load(args.model)
    else:
        g = _optimized(args)
        model = compile(g, target=args.target)
    feeds = _parse_inputs(args.input, model)
    t0 = time.perf_counter()
    outs = model.run(feeds)
    ms = (time.perf_counter() - t0) * 1e3
    print(f"{model.name}: target {model.target}, ran in {ms:.1f} ms")
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


def cmd_bench(args) -> int:
    from .bench import bench
    if args.target != "c":
        raise CnncError(f"cnnc bench measures the c target; got --target {args.target}")
    g = _optimized(args)
    onnx_model = args.model if args.model.endswith(".onnx") else None
    res = bench(g, onnx_model=onnx_model, threads=args.threads, repeat=args.repeat, profile=args.profile,
                cpu=args.cpu or "native", impl=args.impl, layout=args.layout)
    print(res.report())
    return 0


def cmd_verify(args) -> int:
    """Exit 0 when every output is within tolerance, 1 when one is not, 2 when the model
    could not be loaded or compiled."""
    from .verify import verify
    try:
        bound = parse_bindings(args.bind)
        g = load_model(args.model, parse_input_shapes(args.input_shape), bound)
        given = {spec.partition("=")[0] for spec in args.input or ()}
        feeds = {k: v for k, v in _parse_inputs(args.input, _Signature(g)).items() if k in given}
        report = verify(g, args.target, onnx_model=args.model if args.model.endswith(".onnx") else None,
                        inputs=feeds, seed=args.seed, atol=args.atol, rtol=args.rtol, max_ulp=args.max_ulp,
                        per_layer=args.per_layer, level=args.level, bound=bound)
    except CnncError as e:
        print(f"cnnc: error: {e}", file=sys.stderr)
        return 2
    print(f"{g.name}: {report}")
    return 0 if report.ok else 1


class _Signature:
    """A graph's inputs as ``_parse_inputs`` reads them (``.inputs``: name -> type)."""

    def __init__(self, g: Graph):
        self.inputs = g.input_types()


def cmd_ops(args) -> int:
    for name, op in sorted(all_ops().items()):
        attrs = ", ".join(op.attrs)
        targets = "all targets" if name in ("Input", "Constant") else ", ".join(op_targets(op))
        print(f"{name:22s} ({', '.join(op.inputs)}){' {' + attrs + '}' if attrs else ''}  {op.doc}  [{targets}]")
    return 0


def _folder_options() -> dict[str, tuple[str, object]]:
    """Every option a target's model folder takes: name -> (the targets taking it, its
    record), from the backend records (``cnnc.backends.TARGETS``)."""
    out: dict = {}
    for t in TARGETS.values():
        for name, opt in t.options.items():
            if opt.write:
                targets, _ = out.get(name, ("", opt))
                out[name] = (f"{targets}/{t.name}" if targets else t.name, opt)
    return out


def _add_folder_options(p: argparse.ArgumentParser) -> None:
    for name, (targets, opt) in _folder_options().items():
        flag = "--" + name.replace("_", "-")
        if opt.flag:
            p.add_argument(flag, action="store_true", help=f"{targets}: {opt.help}")
        else:
            p.add_argument(flag, choices=opt.choices, metavar=opt.metavar, type=opt.type, help=f"{targets}: {opt.help}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cnnc", description="A compiler for convolutional neural networks.")
    p.add_argument("--version", action="version", version=f"cnnc {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    shapes = argparse.ArgumentParser(add_help=False)
    shapes.add_argument("--input-shape", action="append", metavar="NAME=d0,d1,...",
                        help="bind an ONNX input's shape (repeatable)")
    shapes.add_argument("--bind", action="append", metavar="NAME=FILE.npy|v0,v1,...",
                        help="bind an ONNX input's value: it becomes a constant of the model, as an input "
                             "that gives a Pad's pads, a Resize's sizes or a Reshape's shape must (repeatable)")
    levels = argparse.ArgumentParser(add_help=False)  # optimize(): compile, run and tune apply the same
    levels.add_argument("-O", "--level", type=int, default=2, choices=sorted(LEVELS),
                        help="optimization level (default 2)")
    levels.add_argument("--passes", metavar="P1,P2,...", help="run these passes instead of the level's")
    levels.add_argument("--dump-ir", metavar="DIR", help="write the IR after every pass (.txt/.dot/.svg)")
    levels.add_argument("-v", "--verbose", action="store_true", help="print the per-pass statistics table")
    levels.add_argument("-q", "--quiet", action="store_true", help="no per-pass statistics (the default; overrides -v)")
    opt = argparse.ArgumentParser(add_help=False, parents=[levels])
    opt.add_argument("--target", default="reference", choices=sorted(TARGETS),
                     help="what to compile for (default reference): " + "; ".join(
                         f"{t.name}: {t.doc}" for t in TARGETS.values()))
    s = sub.add_parser("show", help="print a model's IR, or what a model folder holds", parents=[shapes])
    s.add_argument("model", metavar="MODEL", help="an .onnx file, a .py model file (build() or graph), or a model folder written by cnnc compile -o")
    s.add_argument("--memory", nargs="?", const="", metavar="FILE.svg",
                   help="draw the c target's arena timeline (each buffer over the nodes it is live at and the "
                        "bytes it takes; the lower bound marked) into FILE.svg (default <model>_memory.svg)")
    s.add_argument("--summary", action="store_true",
                   help="a table of every layer as the c target compiles it (op, key attributes, output shape, "
                        "parameters, FLOPs, kernel) and the totals (parameters, FLOPs, weights and arena bytes)")
    s.add_argument("-O", "--level", type=int, default=2, choices=sorted(LEVELS),
                   help="--summary, --memory: the optimization level they show (default 2)")
    s.add_argument("--cpu", help="--summary: the ISA the kernels are planned for (default native)")
    s.add_argument("--threads", type=int, metavar="N", help="--summary: the workers they are planned for")
    s.set_defaults(fn=cmd_show)
    e = sub.add_parser("export", help="write a model as ONNX", parents=[shapes])
    e.add_argument("model", metavar="MODEL", help="an .onnx file, or a .py file defining build() -> cnnc.Graph (or a module-level graph)")
    e.add_argument("-o", "--output", required=True, metavar="FILE.onnx")
    e.set_defaults(fn=cmd_export)
    c = sub.add_parser("compile", help="optimize a model and compile it for a target",
                       parents=[shapes, opt])
    c.add_argument("model", metavar="MODEL", help="an .onnx file, or a .py file defining build() -> cnnc.Graph (or a module-level graph)")
    c.add_argument("-o", "--output", metavar="DIR", help="output folder (code-generating targets): written whole "
                   "or not at all; an earlier cnnc model folder there is replaced")
    c.add_argument("--force", action="store_true", help="write into a non-empty folder that is not a cnnc model "
                   "folder, replacing its files of the same names")
    _add_folder_options(c)
    c.set_defaults(fn=cmd_compile)
    t = sub.add_parser("tune", help="search TVM schedules for a model's kernels (MetaSchedule) and store them in "
                       "a database that `cnnc compile --db` applies", parents=[shapes, levels])
    t.add_argument("model", metavar="MODEL", help="an .onnx file, or a .py file defining build() -> cnnc.Graph (or a module-level graph)")
    t.add_argument("--target", default="tvm", choices=("tvm", "tvm-cuda"), help="the TVM target to tune for "
                   "(default tvm)")
    t.add_argument("--db", metavar="DIR", required=True, help="the database folder (created, or extended)")
    t.add_argument("--trials", type=int, metavar="N",
                   help="candidates measured in all (default 64, or as many as --minutes allows)")
    t.add_argument("--minutes", type=float, metavar="M",
                   help="wall-clock budget: stop the search after M minutes (with --trials, at whichever "
                        "comes first); run again on the same --db to resume")
    t.add_argument("--trials-per-task", type=int, metavar="K", help="at most K of them for one kernel")
    t.add_argument("--threads", type=int, metavar="N", help="tvm: time the candidates on N worker threads, the "
                   "threads the model will run on (default: this machine's cores)")
    t.add_argument("--arch", metavar="SM", help="tvm-cuda: GPU architecture, e.g. sm_80 or sm_90")
    t.set_defaults(fn=cmd_tune)
    r = sub.add_parser("run", help="optimize, compile and run a model once (random inputs unless "
                       "given)", parents=[shapes, opt])
    r.add_argument("model", metavar="MODEL", help="an .onnx file, a .py model file (build() or graph), or a built model folder of any target")
    r.add_argument("--input", action="append", metavar="NAME=FILE.npy")
    r.add_argument("--save", metavar="DIR", help="write each output to DIR/<name>.npy")
    r.set_defaults(fn=cmd_run)
    b = sub.add_parser("bench", help="time a model on the c target beside onnxruntime (median and minimum), "
                       "with --profile per layer against this machine's fp32 FMA peak", parents=[shapes, levels])
    b.add_argument("model", metavar="MODEL", help="an .onnx file, or a .py file defining build() -> cnnc.Graph (or a module-level graph)")
    b.add_argument("--target", default="c", choices=("c",), help="the target timed (c only, the default)")
    b.add_argument("--threads", type=int, metavar="N", help="worker threads (default: this machine's cores)")
    b.add_argument("--cpu", metavar="CPU", help="as for compile (default native)")
    b.add_argument("--repeat", type=int, default=20, metavar="R", help="timed runs of each (default 20)")
    b.add_argument("--profile", action="store_true", help="also time every layer (a build with -DCNNC_PROFILE)")
    b.add_argument("--impl", type=parse_impl, metavar="OP=NAME,...", help="as for compile: force implementations")
    b.add_argument("--layout", default="auto", choices=("auto", "nchwc", "nchw"),
                   help="as for compile: the layout pass's mode (default auto)")
    b.set_defaults(fn=cmd_bench)
    v = sub.add_parser("verify", help="run a model on a target and on onnxruntime (or the reference) on the same "
                       "inputs and compare every output; exit 0 within tolerance, 1 not, 2 if it cannot be compiled",
                       parents=[shapes])
    v.add_argument("model", metavar="MODEL", help="an .onnx file, or a .py file defining build() -> cnnc.Graph")
    v.add_argument("--target", default="c", choices=sorted(TARGETS), help="the target checked (default c)")
    v.add_argument("--input", action="append", metavar="NAME=FILE.npy", help="an input's value (default: seeded "
                   "random)")
    v.add_argument("--seed", type=int, default=0, help="the random inputs' seed (default 0)")
    v.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    v.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default 1e-3)")
    v.add_argument("--max-ulp", type=int, metavar="N", help="also require at most N ULPs of difference")
    v.add_argument("--per-layer", action="store_true", help="on a mismatch, find the first node whose output "
                   "differs from the reference")
    v.add_argument("-O", "--level", type=int, default=2, choices=sorted(LEVELS), help="optimization level "
                   "(default 2)")
    v.set_defaults(fn=cmd_verify)
    o = sub.add_parser("ops", help="list the registered ops and the targets that compile each")
    o.set_defaults(fn=cmd_ops)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    interrupted = []

    def on_interrupt(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        return args.fn(args)
    except CnncError as e:
        if interrupted:  # Ctrl-C also reached a compiler, whose failure came back first
            print("cnnc: interrupted", file=sys.stderr)
            return 130
        print(f"cnnc: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a half-written model folder is already removed (staged_folder)
        print("cnnc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cnnc show model.py | head`: the reader left; that is fine
        sys.stderr.close()
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
