"""Conformance cases cnnc does not pass, each with the missing feature or the reason.

A case listed here is reported as skipped (and counted); every other case must pass.
"""

NODE_SKIPS = {
    "test_batchnorm_epsilon_training_mode":
        "BatchNormalization training mode (running-stat outputs): cnnc compiles inference only",
    "test_batchnorm_example_training_mode":
        "BatchNormalization training mode (running-stat outputs): cnnc compiles inference only",
    "test_maxpool_with_argmax_2d_precomputed_pads":
        "MaxPool's second output (Indices, the argmax) is not implemented",
    "test_maxpool_with_argmax_2d_precomputed_strides":
        "MaxPool's second output (Indices, the argmax) is not implemented",
    "test_resize_downsample_scales_cubic_align_corners":
        "align_corners downsampling to a fractional length: ONNX's reference (the expected "
        "data) divides by the fractional output length, onnxruntime and cnnc by the integer one",
    "test_resize_downsample_scales_linear_align_corners":
        "align_corners downsampling to a fractional length: ONNX's reference (the expected "
        "data) divides by the fractional output length, onnxruntime and cnnc by the integer one",
}

#: backend -> {case: reason}, for features a backend lacks (none yet)
BACKEND_SKIPS: dict[str, dict[str, str]] = {"reference": {}, "c": {}, "tvm": {}, "cuda-emu": {}, "cuda": {}}
