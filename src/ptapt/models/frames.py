"""Frame arithmetic of strided convolution stacks (wav2vec 1.0 and 2.0 feature encoders)."""

from __future__ import annotations

from collections.abc import Sequence

ConvLayout = Sequence[tuple[int, int]]  # (kernel, stride) per layer, input first


def num_frames(n_samples: int, layout: ConvLayout) -> int:
    """Output frames of a stack of unpadded convolutions for `n_samples` input samples."""
    n = n_samples
    for kernel, stride in layout:
        if n < kernel:
            return 0
        n = (n - kernel) // stride + 1
    return n


def receptive_field(layout: ConvLayout) -> int:
    """Input samples one output frame sees."""
    field, jump = 1, 1
    for kernel, stride in layout:
        field += (kernel - 1) * jump
        jump *= stride
    return field


def total_stride(layout: ConvLayout) -> int:
    jump = 1
    for _, stride in layout:
        jump *= stride
    return jump
