"""Threads on the C target: the parallel-for hook and runtime/cnnc_pool.c give outputs
bit-identical to the serial run for every worker count (through cffi and the standalone
driver); a hook with more workers than compiled for is refused; ``cnnc bench`` reports
latency and, with --profile, every layer."""
import os
import subprocess

import numpy as np
import pytest

import cnnc
import cnnc.dsl as nn
from cnnc.backends import c as cb
from cnnc.cli import main
from cnnc.ir import TensorType


def _model():
    m = nn.Model("threaded")
    x = m.input("x", (2, 8, 23, 19))
    y = nn.conv(x, 24, 3, padding="same", activation="relu")
    y = nn.conv(y, 16, 3, stride=2, padding="same") + nn.conv(y, 16, 1, stride=2)
    m.output(nn.conv(nn.relu(y), 40, 1), "y")
    return cnnc.optimize(m.build())


@pytest.mark.parametrize("impl", ["gemm", "gemm_padded", "gemm_padded_t"])
@pytest.mark.parametrize("threads", [2, 3])
def test_worker_counts_give_identical_outputs(tmp_path, rng, threads, impl):
    g = _model()
    feeds = {"x": rng.standard_normal((2, 8, 23, 19)).astype(np.float32)}
    many = cnnc.compile(g, target="c", out_dir=tmp_path, threads=threads, impl={"Conv": impl})
    assert many.threads == threads
    outs = [cb.CModel(tmp_path, threads=t).run(feeds)["y"] for t in range(1, threads + 1)]
    for got in outs:
        np.testing.assert_array_equal(got, outs[0])
    np.testing.assert_allclose(outs[0], cnnc.compile(g).run(feeds)["y"], rtol=1e-4, atol=1e-4)
    with pytest.raises(cnnc.CnncError, match=f"threads must be 1 to {threads}"):
        cb.CModel(tmp_path, threads=threads + 1)
    exe = cb.build_exe(tmp_path)
    for t in (1, threads):
        (y,) = cb.run_exe(exe, [feeds["x"]], [TensorType((2, 40, 12, 10))], env={**os.environ, "CNNC_THREADS": str(t)})
        np.testing.assert_array_equal(y, outs[0])
    res = subprocess.run([str(exe), "a", "b"], capture_output=True, text=True,
                         env={**os.environ, "CNNC_THREADS": str(threads + 1)})
    assert res.returncode == 2 and "CNNC_THREADS must be 1 to" in res.stderr


def test_bad_threads_is_a_clear_error():
    with pytest.raises(cnnc.CnncError, match="threads must be an int from 1 to 64"):
        cnnc.compile(_model(), target="c", threads=0)


def test_cnnc_bench_reports_every_layer(tmp_path, capsys):
    model = tmp_path / "net.py"
    model.write_text("import cnnc, cnnc.dsl as nn\n"
                     "def build():\n"
                     "    m = nn.Model('benched')\n"
                     "    x = m.input('x', (1, 4, 12, 12))\n"
                     "    m.output(nn.max_pool(nn.conv(x, 8, 3, padding='same', activation='relu'), 2), 'y')\n"
                     "    return m.build()\n")
    assert main(["bench", str(model), "--threads", "1", "--repeat", "3", "--profile", "-q"]) == 0
    out = capsys.readouterr().out
    assert "benched: cnnc-c" in out and "median" in out and "per layer (peak" in out
    assert "FusedConv" in out and "MaxPool" in out


def test_parallel_elementwise_pool_concat_and_affine_are_identical(tmp_path, rng):
    """The non-conv kernels big enough to split (elementwise, folded batch norm, pooling,
    concat): every worker count gives the same bytes, and the reference's values."""
    m = nn.Model("splits")
    x = m.input("x", (1, 16, 48, 48))
    a = nn.relu(nn.batch_norm(x, random_stats=True))
    b = nn.max_pool(a, 3, stride=2, padding=1)
    c = nn.avg_pool(nn.sigmoid(a), 3, stride=2, padding=1)
    m.output(nn.concat([b, c * b + c], axis=1), "y")
    g = m.build()
    kernels = cb.generate(g, tmp_path, threads=3).joinpath("splits.c").read_text()
    assert kernels.count("par->run(") >= 5
    cb.build_library(tmp_path)
    feeds = {"x": rng.standard_normal((1, 16, 48, 48)).astype(np.float32)}
    outs = [cb.CModel(tmp_path, threads=t).run(feeds)["y"] for t in (1, 2, 3)]
    for got in outs:
        np.testing.assert_array_equal(got, outs[0])
    np.testing.assert_allclose(outs[0], cnnc.compile(g).run(feeds)["y"], rtol=1e-5, atol=1e-6)
