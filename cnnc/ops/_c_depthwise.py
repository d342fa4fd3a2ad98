"""Depthwise convolution on vector rows for the C target: the ``depthwise`` entry of Conv's
and FusedConv's implementation tables (``_c_conv.conv_impls``).

A depthwise conv (one input channel per group, ``M / C`` outputs per channel) has no
reduction over channels, so a GEMM tile is mostly zeros (one row of an MR-row block) and
the direct kernel sums one output at a time.  Here it is a row kernel over padded phase
planes (``_c_rows``: each input channel copied once into its task's slot, where it stays
in L1/L2 for every output channel it feeds): a block of ``NV`` vectors of sums stays in
registers over every tap, in tap order (so every worker count gives the same bits), then
the epilogue (bias, residual, activation: ``mac.epilogue``) reads the row of sums and Z
and writes Y.  Padding taps are multiplied as zeros, so a padded conv whose weight holds
an Inf or NaN is left to the direct kernel (``applies``).
"""
from __future__ import annotations

from ..ir import Kernel, KernelRequest
from . import _spatial as sp
from ._c_rows import RowPlanes, fits

TEMPLATE = "c/kernels/conv_dw.c.j2"
#: rough rates of the cost model: flops a second per vector lane (scalar: per second), and
#: elements a second copied into the padded planes and through the epilogue; on the GEMM
#: model's scale (``_c_gemm``: its estimates run at about 0.7x of measured times on Zen 4),
#: so that the layout pass can weigh them against the blocked kernels' (``_c_nchwc``)
FLOPS_PER_LANE = 4e9
SCALAR_FLOPS = 3e9
COPY_ELEMENTS = 24e9
EPILOGUE_ELEMENTS = 24e9


def applies(req: KernelRequest) -> bool:
    """A row kernel's window (``_c_rows.fits``: fp32, 1-D or 2-D, few taps), one input
    channel per group, and a constant weight (no Inf or NaN where padding is multiplied)."""
    return (fits(req) and req.constants[1] is not None and sp.window_geometry(req).group == req.in_types[0].shape[1]
            and not sp.weight_meets_padding_nonfinite(req))


def _planes(req: KernelRequest) -> RowPlanes:
    return RowPlanes(req, outputs_per_plane=req.out_types[0].shape[1] // req.in_types[0].shape[1])


def cost(req: KernelRequest) -> float:
    pl = _planes(req)
    mult = req.out_types[0].shape[1] // pl.c
    rate = FLOPS_PER_LANE * pl.vl if pl.vl else SCALAR_FLOPS
    per_plane = (2.0 * mult * pl.grid_columns() * pl.taps / rate + pl.planes / COPY_ELEMENTS
                 + mult * pl.oshape[0] * pl.oshape[1] / EPILOGUE_ELEMENTS)
    return pl.items * per_plane * req.workers / min(req.workers, pl.tasks)


def conv_depthwise(req: KernelRequest, tag: str, *, bias: bool, residual: str = "", act: str = "",
                   act_name: str = "") -> Kernel:
    """The depthwise plan of a conv (see the module docstring)."""
    x, y = req.in_types[0], req.out_types[0]
    pl = _planes(req)
    geo = sp.window_geometry(req)
    nd = x.rank - 2
    params = {**pl.params(), "M": y.shape[1], "MG": y.shape[1] // pl.c, "bias": bias, "residual": residual, "act": act}
    dims = lambda v: "x".join(str(i) if i >= 0 else f"n{-i}" for i in v)  # noqa: E731
    name = (f"cnnc_{tag}dw{nd}d_f32_{pl.nv}x{pl.lanes}_k{dims(geo.kernel)}_s{dims(geo.strides)}"
            f"_d{dims(geo.dilations)}_p{dims(geo.pads)}" + ("_b" if bias else "")
            + (f"_z{residual}" if residual else "") + (f"_{act_name.lower()}" if act else "")
            + f"_{dims(x.shape)}_m{y.shape[1]}")
    comment = (f"{req.node.op} depthwise on vector rows ({pl.nv} x {pl.lanes} lanes, {pl.phases} padded "
               f"phase plane(s) of {pl.e0}x{pl.e1} per channel) {nd}-D kernel {geo.kernel} strides {geo.strides} "
               f"dilations {geo.dilations} pads {geo.pads}" + (f" {act_name}" if act else "")
               + (f" residual {residual}" if residual else "") + f" -> {y}")
    return Kernel(TEMPLATE, name, params, scratch_bytes=pl.scratch, comment=comment, parallel=True)
