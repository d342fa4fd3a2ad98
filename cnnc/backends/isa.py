"""The CPUs the C target builds for: ``cpu="native" | "x86-64-v3" | "x86-64-v4" |
"armv8-a" | "generic"``, each an :class:`~cnnc.ir.Isa` (compiler flags, vector width,
GEMM register tile).

* ``generic``: plain C99 (no vector extensions, no ``-march``): any C compiler, any CPU.
* ``x86-64-v3``: AVX2 + FMA (Haswell, Zen 1-3), 8-lane vectors, a 6x16 GEMM tile (12
  accumulators of the 16 ymm registers, as MLAS's ``SgemmKernelFma3``).
* ``x86-64-v4``: AVX-512 (Skylake-X, Ice Lake, Sapphire Rapids, Zen 4), 16 lanes, 8x32
  (16 of the 32 zmm registers).
* ``armv8-a``: NEON, 4 lanes, 8x8 (16 of the 32 q registers, as XNNPACK's 6x8 or wider).
* ``native`` (the default): this machine's, detected from ``/proc/cpuinfo`` (x86) or the
  architecture (aarch64), built with ``-march=native``.

The ISA builds use GCC/Clang vector extensions (``__attribute__((vector_size))``); the
microkernels are plain C otherwise, so one template serves every ISA.
"""
from __future__ import annotations

import functools
import platform
from pathlib import Path

from ..ir import GENERIC, CnncError, Isa

#: flags of every vector build: no FP exception is ever read, so GCC may if-convert selects
#: whose arms compute (cnnc_expf's clamps: its loops vectorize on AVX2 too); no value changes
VECTOR_FLAGS = ("-fno-trapping-math",)
AVX2 = dict(kind="avx2", vector=8, gemm_mr=6, gemm_nv=2)
AVX512 = dict(kind="avx512", vector=16, gemm_mr=8, gemm_nv=2)
NEON = dict(kind="neon", vector=4, gemm_mr=8, gemm_nv=2)

CPUS: dict[str, Isa] = {
    "generic": GENERIC,
    "x86-64-v3": Isa("x86-64-v3", cflags=("-march=x86-64-v3", *VECTOR_FLAGS), **AVX2),
    "x86-64-v4": Isa("x86-64-v4", cflags=("-march=x86-64-v4", "-mprefer-vector-width=512", *VECTOR_FLAGS), **AVX512),
    "armv8-a": Isa("armv8-a", cflags=("-march=armv8-a", *VECTOR_FLAGS), **NEON),
}

#: /proc/cpuinfo flags that an AVX-512 (x86-64-v4) or AVX2 (x86-64-v3) build needs
_V4_FLAGS = {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"}
_V3_FLAGS = {"avx2", "fma", "f16c", "bmi2", "movbe"}


def host_flags() -> set[str]:
    """This CPU's feature flags (empty where /proc/cpuinfo has none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith(("flags", "Features"))
            for f in line.split(":", 1)[1].split()}


@functools.lru_cache(maxsize=1)
def native() -> Isa:
    """The ISA of this machine, built with ``-march=native``."""
    machine = platform.machine().lower()
    flags = host_flags()
    if machine in ("x86_64", "amd64"):
        if _V4_FLAGS <= flags:
            return Isa("native", cflags=("-march=native", "-mprefer-vector-width=512", *VECTOR_FLAGS), **AVX512)
        if _V3_FLAGS <= flags:
            return Isa("native", cflags=("-march=native", *VECTOR_FLAGS), **AVX2)
    if machine in ("aarch64", "arm64"):
        return Isa("native", cflags=("-march=native", *VECTOR_FLAGS), **NEON)
    return Isa("native")


def runs_here(isa: Isa) -> bool:
    """Whether this machine can run a build for ``isa``."""
    machine = platform.machine().lower()
    if isa.kind == "scalar":
        return True
    if isa.kind == "neon":
        return machine in ("aarch64", "arm64")
    if machine not in ("x86_64", "amd64"):
        return False
    return (_V4_FLAGS if isa.kind == "avx512" else _V3_FLAGS) <= host_flags()


def resolve(cpu) -> Isa:
    """The :class:`Isa` of ``cpu`` (a name of ``CPUS`` or ``native``)."""
    if cpu in (None, "native"):
        return native()
    if isinstance(cpu, str) and cpu in CPUS:
        return CPUS[cpu]
    raise CnncError(f"cpu must be native or one of {', '.join(CPUS)}; got {cpu!r}")
