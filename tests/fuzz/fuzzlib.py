"""A seeded mutation fuzzer for cnnc's front door (``load_onnx`` → ``optimize`` → ``compile`` → ``run``).

Mutants are made from a few ONNX node cases and one light model, structurally (an
attribute, an input, an op type, an initializer's dims, dtype or bytes, a declared shape
or element type, the opset, external data with a hostile location, offset or length, a
hostile name...) or byte by byte (flips, truncation, insertion, splicing) on the
serialized file.  Each one runs in a worker process that has an address-space limit
(``MEMORY_LIMIT``) and cnnc limits well below it (``TENSOR_LIMIT``, ``CONSTANT_LIMIT``), a private temporary folder and a per-mutant time limit; the driver
classifies every outcome:

``error``       one CnncError (the wanted way to refuse bad input)
``internal``    one CnncError that says "internal error": an op's checks missed it       (a bug)
``agree``       ran, and agrees with onnxruntime on the same inputs (rtol 1e-3, atol 1e-4)
``ort-refused`` ran; onnxruntime refused the model, so there is nothing to compare with
``mismatch``    ran, and differs from onnxruntime                                 (a bug)
``unwrapped``   any other exception, MemoryError included                         (a bug)
``crash``       the worker died (a signal, or an allocation beyond the limit)      (a bug)
``hang``        the worker took longer than the time limit                         (a bug)
``leftover``    files were left in the temporary folder or a failed output folder (a bug)

Every ``C_EVERY``-th mutant that runs is also compiled to C (a temporary folder, which
must be gone afterwards) and written as a model folder with ``cnnc.backends.write``
(which must leave nothing behind when it fails).

By hand: ``python tests/fuzz/fuzzlib.py --mutants 2000 --seed 7`` prints the table.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
BAD = ("internal", "mismatch", "unwrapped", "crash", "hang", "leftover")
#: the worker's address-space limit: numpy, onnx, onnxruntime and cnnc in one process use
#: about 1.5 GB of it; a mutant that makes cnnc allocate past it is reported as a bug
MEMORY_LIMIT = 6 << 30
#: cnnc's own limits in the worker (``cnnc.LIMITS``), far below the address-space limit
TENSOR_LIMIT, CONSTANT_LIMIT = 256 << 20, 1 << 30
TIME_LIMIT = 60.0
C_EVERY = 8

NODE_CASES = ("test_basic_conv_with_padding", "test_conv_with_strides_and_asymmetric_padding",
              "test_maxpool_2d_pads", "test_averagepool_2d_pads", "test_batchnorm_example",
              "test_resize_upsample_scales_linear", "test_resize_downsample_sizes_nearest",
              "test_gemm_all_attributes", "test_concat_2d_axis_0", "test_constant_pad", "test_convtranspose",
              "test_globalaveragepool", "test_reshape_reordered_all_dims", "test_softmax_axis_1",
              "test_transpose_all_permutations_0", "test_matmul_2d")
LIGHT_MODEL = "squeezenet"


# ----------------------------------------------------------------------------- seeds
def seed_models() -> dict[str, bytes]:
    """The seeds: the node cases (their int64 inputs bound as initializers) and the light model."""
    sys.path.insert(0, str(HERE.parent / "conformance"))
    sys.path.insert(0, str(HERE.parent))
    from harness import bind_compile_time_inputs, node_cases
    cases = node_cases()
    seeds = {}
    for name in NODE_CASES:
        if name in cases:
            inputs, _ = cases[name].data_sets[0]
            model, _ = bind_compile_time_inputs(cases[name].model, inputs)
            seeds[name] = model.SerializeToString()
    light = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{LIGHT_MODEL}.onnx"
    seeds[f"light_{LIGHT_MODEL}"] = light.read_bytes()
    return seeds


# ----------------------------------------------------------------------------- mutations
INTS = (0, -1, 1, 2, 3, 7, -7, 100000, 2**31, -(2**31), 2**62, -(2**63))
FLOATS = (0.0, -0.0, 1.0, -1.0, 1e-38, 1e38, -1e38, float("inf"), float("-inf"), float("nan"))
STRINGS = ("", "x", "NOTSET", "linear", "nearest", "*/ evil(); /*", "a\"b\\c\n#define X", "../../etc/passwd",
           "\u00e9\u4e2d", "A" * 300)
HOSTILE_NAMES = ("*/ int main(){} /*", "x\"; system(\"rm -rf /\"); //", "../../../tmp/owned", "\n#include <stdio.h>",
                 "", "0abc", "a b", "\x00nul", "$(reboot)", "input")


def _pick(rng, seq):
    return seq[rng.randrange(len(seq))]


def _nodes(m):
    return list(m.graph.node)


def m_attr_value(m, rng):
    nodes = [n for n in m.graph.node if n.attribute]
    if not nodes:
        return m_attr_add(m, rng)
    a = _pick(rng, list(_pick(rng, nodes).attribute))
    if a.type == onnx.AttributeProto.INT:
        a.i = _pick(rng, INTS)
    elif a.type == onnx.AttributeProto.FLOAT:
        a.f = _pick(rng, FLOATS)
    elif a.type == onnx.AttributeProto.STRING:
        a.s = _pick(rng, STRINGS).encode("utf-8", "surrogatepass")
    elif a.type == onnx.AttributeProto.INTS:
        vals = list(a.ints) or [1]
        choice = rng.randrange(4)
        if choice == 0:
            vals[rng.randrange(len(vals))] = _pick(rng, INTS)
        elif choice == 1:
            vals = vals[:-1]
        elif choice == 2:
            vals = vals + [_pick(rng, INTS)]
        else:
            vals = [_pick(rng, INTS) for _ in vals]
        del a.ints[:]
        a.ints.extend(vals)
    elif a.type == onnx.AttributeProto.FLOATS:
        vals = list(a.floats) or [1.0]
        vals[rng.randrange(len(vals))] = _pick(rng, FLOATS)
        del a.floats[:]
        a.floats.extend(vals)
    elif a.type == onnx.AttributeProto.TENSOR:
        arr = numpy_helper.to_array(a.t).copy()
        if arr.size and arr.dtype.kind == "f":
            arr.reshape(-1)[rng.randrange(arr.size)] = _pick(rng, FLOATS)
        a.t.CopyFrom(numpy_helper.from_array(arr, a.t.name))
    else:
        a.type = _pick(rng, (onnx.AttributeProto.INT, onnx.AttributeProto.STRING, onnx.AttributeProto.FLOATS))


def m_attr_drop(m, rng):
    nodes = [n for n in m.graph.node if n.attribute]
    if nodes:
        n = _pick(rng, nodes)
        del n.attribute[rng.randrange(len(n.attribute))]


def m_attr_add(m, rng):
    n = _pick(rng, _nodes(m))
    name = _pick(rng, ("pads", "strides", "dilations", "group", "kernel_shape", "axis", "mode", "bogus", "auto_pad",
                       "ceil_mode", "epsilon", "perm", "alpha"))
    value = rng.choice([_pick(rng, INTS), _pick(rng, FLOATS), _pick(rng, STRINGS),
                        [_pick(rng, INTS) for _ in range(rng.randrange(1, 5))]])
    try:
        n.attribute.append(helper.make_attribute(name, value))
    except Exception:
        pass


def m_input_edit(m, rng):
    n = _pick(rng, _nodes(m))
    ins = list(n.input)
    choice = rng.randrange(5)
    pool = [i.name for i in m.graph.input] + [t.name for t in m.graph.initializer] + [o for x in m.graph.node
                                                                                     for o in x.output]
    if choice == 0 and ins:
        del ins[rng.randrange(len(ins))]
    elif choice == 1:
        ins.append(_pick(rng, pool + [""]))
    elif choice == 2 and ins:
        ins[rng.randrange(len(ins))] = _pick(rng, pool + ["nowhere", ""])
    elif choice == 3 and len(ins) > 1:
        i, j = rng.randrange(len(ins)), rng.randrange(len(ins))
        ins[i], ins[j] = ins[j], ins[i]
    else:
        ins = ins + ins
    del n.input[:]
    n.input.extend(ins)


def m_op_type(m, rng):
    ops = ("Conv", "Relu", "Add", "MaxPool", "AveragePool", "Gemm", "MatMul", "Concat", "Reshape", "Resize", "Pad",
           "BatchNormalization", "Softmax", "Transpose", "ConvTranspose", "Flatten", "Identity", "Sigmoid",
           "GlobalAveragePool", "Mul", "LRN", "Dropout", "Bogus", "")
    n = _pick(rng, _nodes(m))
    n.op_type = _pick(rng, ops)
    if rng.random() < 0.1:
        n.domain = _pick(rng, ("com.microsoft", "ai.onnx.ml", "cnnc"))


def m_node_order(m, rng):
    nodes = _nodes(m)
    if rng.random() < 0.5 and len(nodes) > 1:
        del m.graph.node[rng.randrange(len(nodes))]
    elif len(nodes) > 1:
        i, j = rng.randrange(len(nodes)), rng.randrange(len(nodes))
        nodes[i], nodes[j] = nodes[j], nodes[i]
        del m.graph.node[:]
        m.graph.node.extend(nodes)


def _init(m, rng):
    return _pick(rng, list(m.graph.initializer)) if m.graph.initializer else None


def m_init_dims(m, rng):
    t = _init(m, rng)
    if t is None:
        return m_value_info(m, rng)
    dims = list(t.dims) or [1]
    choice = rng.randrange(4)
    if choice == 0:
        dims[rng.randrange(len(dims))] = _pick(rng, INTS)
    elif choice == 1:
        dims = dims[:-1]
    elif choice == 2:
        dims = dims + [_pick(rng, (1, 2, 0))]
    else:
        dims = list(reversed(dims))
    del t.dims[:]
    t.dims.extend(dims)


def m_init_dtype(m, rng):
    t = _init(m, rng)
    if t is not None:
        t.data_type = _pick(rng, (0, TensorProto.FLOAT16, TensorProto.BOOL, TensorProto.INT8, TensorProto.INT64,
                                  TensorProto.DOUBLE, TensorProto.STRING, TensorProto.BFLOAT16, 99))


def m_init_bytes(m, rng):
    t = _init(m, rng)
    if t is None:
        return
    if not t.raw_data:
        arr = numpy_helper.to_array(t)
        t.CopyFrom(numpy_helper.from_array(arr, t.name))
    raw = bytearray(t.raw_data)
    choice = rng.randrange(3)
    if choice == 0 and raw:
        del raw[rng.randrange(len(raw)):]
    elif choice == 1:
        raw += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    elif t.data_type == TensorProto.FLOAT and len(raw) >= 4:
        arr = np.frombuffer(bytes(raw), np.float32).copy()
        arr[rng.randrange(arr.size)] = _pick(rng, FLOATS)
        raw = bytearray(arr.tobytes())
    t.raw_data = bytes(raw)


def m_value_info(m, rng):
    vis = list(m.graph.input) + list(m.graph.output)
    vi = _pick(rng, vis)
    tt = vi.type.tensor_type
    choice = rng.randrange(5)
    if choice == 0:
        tt.elem_type = _pick(rng, (0, 99, TensorProto.INT64, TensorProto.DOUBLE, TensorProto.STRING,
                                   TensorProto.FLOAT16, TensorProto.UINT8))
    elif choice in (1, 2) and tt.shape.dim:
        d = tt.shape.dim[rng.randrange(len(tt.shape.dim))]
        if rng.random() < 0.3:
            d.dim_param = _pick(rng, ("N", "batch", "*/x", ""))
        else:
            d.dim_value = _pick(rng, (0, 1, 2, 3, 5, 1 << 20, 1 << 31, 1 << 62))
    elif choice == 3:
        if tt.shape.dim:
            del tt.shape.dim[-1]
    else:
        tt.shape.dim.add().dim_value = _pick(rng, (1, 2))


def m_opset(m, rng):
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = _pick(rng, (0, 1, 5, 6, 7, 11, 13, 18, 21, 22, 28, 29, 999, -3))
    if rng.random() < 0.1:
        m.ir_version = _pick(rng, (0, 1, 3, 99))


def m_external(m, rng):
    """Move an initializer's bytes to an external file (written by the worker) with a
    location, offset or length that may be hostile."""
    t = _init(m, rng)
    if t is None:
        return
    if not t.raw_data:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t), t.name))
    raw = t.raw_data
    loc = _pick(rng, ("w.bin", "w.bin", "w.bin", "../w.bin", "/etc/passwd", "sub/../w.bin", "w\x00.bin", "",
                      "missing.bin", "link.bin", "."))
    offset = _pick(rng, ("0", "0", "-5", str(10**13), "abc", "1", "", "4"))
    length = _pick(rng, (str(len(raw)), str(len(raw)), "-1", str(10**13), "x", "0", str(len(raw) + 4), ""))
    t.ClearField("raw_data")
    del t.float_data[:]
    t.data_location = TensorProto.EXTERNAL
    del t.external_data[:]
    for k, v in (("location", loc), ("offset", offset), ("length", length)):
        if v != "" or rng.random() < 0.5:
            e = t.external_data.add()
            e.key, e.value = k, v
    # the worker writes the file "w.bin" (and the symlink "link.bin" -> "/etc/hostname")
    m.doc_string = "external:" + raw.hex()


def m_names(m, rng):
    """Rename a value everywhere (hostile names must stay harmless)."""
    vals = [i.name for i in m.graph.input] + [o.name for o in m.graph.output]
    if not vals:
        return
    old, new = _pick(rng, vals), _pick(rng, HOSTILE_NAMES)
    for coll in (m.graph.input, m.graph.output, m.graph.value_info, m.graph.initializer):
        for x in coll:
            if x.name == old:
                x.name = new
    for n in m.graph.node:
        for field in (n.input, n.output):
            for i, x in enumerate(field):
                if x == old:
                    field[i] = new
    if rng.random() < 0.3:
        m.graph.name = _pick(rng, HOSTILE_NAMES)


STRUCTURAL = (m_attr_value, m_attr_value, m_attr_value, m_attr_drop, m_attr_add, m_input_edit, m_op_type, m_node_order,
              m_init_dims, m_init_dtype, m_init_bytes, m_init_bytes, m_value_info, m_value_info, m_opset, m_external,
              m_names)


def mutate_bytes(data: bytes, rng) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        choice = rng.randrange(4)
        if not b:
            break
        i = rng.randrange(len(b))
        if choice == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif choice == 1:
            del b[i:]
        elif choice == 2:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        else:
            b[i] = _pick(rng, (0x00, 0xff, 0x7f, 0x80))
    return bytes(b)


def make_mutant(seed_bytes: bytes, rng) -> tuple[str, bytes]:
    """One mutant: (its mutation class, its file's bytes)."""
    if rng.random() < 0.35:
        return "bytes", mutate_bytes(seed_bytes, rng)
    m = onnx.ModelProto()
    m.ParseFromString(seed_bytes)
    kinds = []
    for _ in range(1 if rng.random() < 0.7 else 2):
        fn = _pick(rng, STRUCTURAL)
        kinds.append(fn.__name__[2:])
        try:
            fn(m, rng)
        except Exception:  # a mutation that does not fit this model (its tensor is external, say)
            pass
    return "+".join(kinds), m.SerializeToString()


def mutants(n: int, seed: int):
    """``n`` mutants from ``seed``: (index, seed model name, class, bytes)."""
    seeds = seed_models()
    names = sorted(seeds)
    rng = random.Random(seed)
    for i in range(n):
        # the light model gets one mutant in six: it is the slow one to run
        name = f"light_{LIGHT_MODEL}" if rng.random() < 1 / 6 else _pick(rng, [x for x in names
                                                                              if not x.startswith("light_")])
        kind, data = make_mutant(seeds[name], rng)
        yield i, name, kind, data


# ----------------------------------------------------------------------------- the worker
def _ort(data: bytes, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.log_severity_level = 4
    try:
        sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(None, feeds)))
    except Exception:
        return None


def _agree(ours: dict, theirs: dict) -> str | None:
    if list(ours) != list(theirs):
        return f"outputs {list(ours)} vs onnxruntime's {list(theirs)}"
    for name, a in ours.items():
        b = np.asarray(theirs[name])
        if a.shape != b.shape:
            return f"{name}: shape {a.shape} vs {b.shape}"
        if a.dtype.kind == "f":
            ok = np.isclose(a, b.astype(a.dtype), rtol=1e-3, atol=1e-4, equal_nan=True)
            if not ok.all():
                i = np.unravel_index(np.argmin(ok), a.shape)
                return f"{name}: at {i} {a[i]!r} vs {b[i]!r}"
        elif not np.array_equal(a, b):
            return f"{name}: values differ"
    return None


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.iterdir())


def run_mutant(data: bytes, doc: str, work: Path, with_c: bool) -> tuple[str, str]:
    """Run one mutant in ``work`` (an empty folder; the process's TMPDIR is ``work/tmp``)."""
    import cnnc
    from cnnc.backends import write
    from cnnc.verify import random_inputs
    model_dir = work / "model"
    model_dir.mkdir()
    path = model_dir / "m.onnx"
    path.write_bytes(data)
    if doc.startswith("external:"):
        (model_dir / "w.bin").write_bytes(bytes.fromhex(doc[len("external:"):]))
        os.symlink("/etc/hostname", model_dir / "link.bin")
    tmp = Path(tempfile.gettempdir())
    before = set(_leftovers(tmp))
    stage = "load_onnx"
    try:
        g = cnnc.load_onnx(path)
        stage = "optimize"
        g = cnnc.optimize(g)
        stage = "compile"
        ref = cnnc.compile(g, target="reference")
        feeds = random_inputs(ref.inputs, seed=0)
        stage = "run"
        with np.errstate(all="ignore"):
            ours = ref.run(feeds)
        if with_c:
            stage = "compile c"
            c_outs = cnnc.compile(g, target="c", threads=1).run(feeds)
            bad = _agree(c_outs, ours)
            if bad:
                return "mismatch", f"c vs reference: {bad}"
            stage = "write c"
            out = work / "folder"
            write(g, "c", out, build=True)
    except cnnc.CnncError as e:
        left = sorted(set(_leftovers(tmp)) - before) + (["folder"] if stage == "write c" and (work / "folder").exists()
                                                        else [])
        if left:
            return "leftover", f"{stage}: after CnncError: {left[:3]}"
        msg = " ".join(str(e).split())
        return "internal" if "internal error" in msg else "error", f"{stage}: {msg[:300]}"
    except BaseException as e:  # noqa: BLE001 - every other exception is what the fuzzer looks for
        import traceback
        tb = traceback.extract_tb(e.__traceback__)
        frames = "; ".join(f"{Path(f.filename).name}:{f.lineno}" for f in tb[-3:])
        return "unwrapped", f"{stage}: {type(e).__name__}: {str(e)[:160]} [{frames}]"
    left = sorted(set(_leftovers(tmp)) - before)
    if left:
        return "leftover", f"after a successful run: {left[:3]}"
    try:
        theirs = _ort(path.read_bytes() if not doc.startswith("external:") else _ort_bytes(path), feeds)
    except Exception:  # onnx's own external-data loader refuses what cnnc read (an empty offset, say)
        theirs = None
    if theirs is None:
        return "ort-refused", ""
    bad = _agree(ours, theirs)
    return ("mismatch", bad) if bad else ("agree", "")


def _ort_bytes(path: Path) -> bytes:
    """A mutant with external data, with its data loaded inline (onnxruntime gets bytes)."""
    m = onnx.load(str(path), load_external_data=False)
    onnx.load_external_data_for_model(m, str(path.parent))
    return m.SerializeToString()


def worker() -> None:
    """Read mutants (one JSON line each) from stdin, answer one JSON line each."""
    import resource
    import shutil
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    import cnnc
    cnnc.LIMITS.tensor_bytes, cnnc.LIMITS.constant_bytes = TENSOR_LIMIT, CONSTANT_LIMIT
    import warnings
    warnings.simplefilter("ignore")
    root = Path(os.environ["CNNC_FUZZ_WORK"])
    for line in sys.stdin:
        job = json.loads(line)
        work = root / "w"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        for left in Path(tempfile.gettempdir()).iterdir():  # one mutant's leftovers are reported once
            shutil.rmtree(left, ignore_errors=True) if left.is_dir() else left.unlink()
        outcome, detail = run_mutant(bytes.fromhex(job["data"]), job["doc"], work, job["c"])
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"outcome": outcome, "detail": detail, "maxrss_kb": rss}), flush=True)


class Driver:
    """Runs mutants in a worker process, restarting it after a crash or a hang."""

    def __init__(self, root: Path):
        self.root = root
        self.proc = None

    def _start(self):
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CNNC_FUZZ_WORK": str(self.root), "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1)

    def run(self, data: bytes, with_c: bool) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        m = onnx.ModelProto()
        try:
            m.ParseFromString(data)
            doc = m.doc_string if m.doc_string.startswith("external:") else ""
        except Exception:
            doc = ""
        self.proc.stdin.write(json.dumps({"data": data.hex(), "doc": doc, "c": with_c}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], TIME_LIMIT)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            hung = self.proc.poll() is None
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            return {"outcome": "hang" if hung else "crash", "detail": "", "maxrss_kb": 0}
        return json.loads(line)

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def fuzz(n: int, seed: int, root: Path, c_every: int = C_EVERY, log=None) -> list[dict]:
    """Run ``n`` mutants; every result is a dict with index, seed, class, outcome, detail, maxrss_kb."""
    d = Driver(root)
    results, ran = [], 0
    try:
        for i, name, kind, data in mutants(n, seed):
            r = d.run(data, with_c=c_every > 0 and ran % c_every == 0)
            r.update(index=i, seed=name, kind=kind)
            ran += r["outcome"] in ("agree", "ort-refused")
            results.append(r)
            if log is not None and r["outcome"] in BAD:
                print(f"  #{i} {name} [{kind}]: {r['outcome']}: {r['detail']}", file=log, flush=True)
    finally:
        d.close()
    return results


def table(results: list[dict]) -> str:
    """Outcomes per mutation class, and in all."""
    by = {}
    for r in results:
        by.setdefault(r["kind"].split("+")[0], Counter())[r["outcome"]] += 1
    cols = ("error", "agree", "ort-refused", *BAD)
    lines = [f"{'class':12s} " + " ".join(f"{c:>11s}" for c in cols)]
    total = Counter()
    for k in sorted(by):
        total.update(by[k])
        lines.append(f"{k:12s} " + " ".join(f"{by[k][c]:11d}" for c in cols))
    lines.append(f"{'all':12s} " + " ".join(f"{total[c]:11d}" for c in cols))
    peak = max((r["maxrss_kb"] for r in results), default=0)
    lines.append(f"{len(results)} mutants; peak RSS of a worker {peak / 1024:.0f} MB")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mutants", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--c-every", type=int, default=C_EVERY, help="compile every K-th running mutant to C (0: none)")
    args = ap.parse_args(argv)
    if args.worker:
        worker()
        return 0
    with tempfile.TemporaryDirectory(prefix="cnnc_fuzz_") as root:
        t0 = time.perf_counter()
        results = fuzz(args.mutants, args.seed, Path(root), args.c_every, log=sys.stdout)
        print(table(results))
        print(f"{time.perf_counter() - t0:.0f} s")
    return 1 if any(r["outcome"] in BAD for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
