"""The implementation table of the conv ops (Conv, FusedConv) for the C target."""
from __future__ import annotations

import functools

from ..ir import Impl
from . import _c_gemm as gemm_plans
from . import _c_winograd as winograd_plans


def conv_impls(direct, gemm, winograd) -> tuple[Impl, ...]:
    """The implementation table of a conv op for the C target: its ``direct`` plan (portable:
    the CUDA backend renders it too); ``gemm(req, padded=..., transposed=...)`` as four
    plans: ``gemm`` (im2col packing), ``gemm_padded`` (runs of padded phase planes), and
    both with transposed tiles (``_t``: pixels by channels); and ``winograd(req, m=...)``
    as ``winograd_f2`` and ``winograd_f4``, F(2x2, 3x3) and F(4x4, 3x3)."""
    entries = [Impl("direct", direct, cost=gemm_plans.direct_cost)]
    for name, padded, transposed in (("gemm", False, False), ("gemm_padded", True, False),
                                     ("gemm_t", False, True), ("gemm_padded_t", True, True)):
        entries.append(Impl(name, functools.partial(gemm, padded=padded, transposed=transposed),
                            applies=gemm_plans.applies,
                            cost=functools.partial(gemm_plans.estimate, padded=padded, transposed=transposed),
                            portable=False, template=gemm_plans.TEMPLATE))
    for m in (2, 4):
        entries.append(Impl(f"winograd_f{m}", functools.partial(winograd, m=m), applies=winograd_plans.applies,
                            cost=functools.partial(winograd_plans.cost, m=m), portable=False,
                            template=winograd_plans.TEMPLATE))
    return tuple(entries)
