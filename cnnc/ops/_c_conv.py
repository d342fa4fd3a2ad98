"""The implementation table of the conv ops (Conv, FusedConv) for the C target."""
from __future__ import annotations

import functools

from ..ir import Impl
from . import _c_depthwise as depthwise_plans
from . import _c_gemm as gemm_plans
from . import _c_winograd as winograd_plans

#: the template of ``conv.direct_conv``'s kernels
DIRECT_TEMPLATE = "c/kernels/conv.c.j2"


def conv_impls(direct, tag: str, epilogue) -> tuple[Impl, ...]:
    """The implementation table of a conv op for the C target: its ``direct`` plan
    (``conv.direct_conv``; the CUDA target has its own table, ``_cuda_conv``); the GEMM plans ``gemm`` (im2col packing) and
    ``gemm_padded`` (runs of padded phase planes), both also with transposed tiles (``_t``:
    pixels by channels); ``winograd_f2`` and ``winograd_f4``, F(2x2, 3x3) and F(4x4, 3x3);
    and ``depthwise`` (vector rows over padded planes per channel).  The plans after
    ``direct`` name their kernels ``cnnc_<tag>...`` and take the node's epilogue,
    ``epilogue(req) -> {"bias": bool, "residual", "act", "act_name"}``."""
    def plan(fn, **kw):
        return lambda req: fn(req, tag, **kw, **epilogue(req))

    entries = [Impl("direct", direct, cost=gemm_plans.direct_cost, portable=False, template=DIRECT_TEMPLATE)]
    for name, padded, transposed in (("gemm", False, False), ("gemm_padded", True, False),
                                     ("gemm_t", False, True), ("gemm_padded_t", True, True)):
        entries.append(Impl(name, plan(gemm_plans.conv_gemm, padded=padded, transposed=transposed),
                            applies=gemm_plans.applies,
                            cost=functools.partial(gemm_plans.estimate, padded=padded, transposed=transposed),
                            portable=False, template=gemm_plans.TEMPLATE))
    for m in (2, 4):
        entries.append(Impl(f"winograd_f{m}", plan(winograd_plans.conv_winograd, m=m), applies=winograd_plans.applies,
                            cost=functools.partial(winograd_plans.cost, m=m), portable=False,
                            template=winograd_plans.TEMPLATE))
    entries.append(Impl("depthwise", plan(depthwise_plans.conv_depthwise), applies=depthwise_plans.applies,
                        cost=depthwise_plans.cost, portable=False, template=depthwise_plans.TEMPLATE))
    return tuple(entries)
