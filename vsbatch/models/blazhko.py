"""BlazhkoResNet34: the unmodified torchvision ResNet-34 of Jiang et al. (2025).

Why unmodified: the paper uses ResNet-34 as published (He et al. 2016) with a two-class head;
changing the stem for small or grey images would make our numbers incomparable. So the
network is exactly ``torchvision.models.resnet34(weights=None, num_classes=2)`` (21.3 M
parameters at any input size: the adaptive average pool makes the head independent of it),
and the grey phased image is replicated into the three channels torchvision expects.
Output: softmax over (nBL, BL); P_BL > 0.5 means BL (the paper's Eq. 3 and threshold).
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision
from torch import nn

from vsbatch.models.batching import outputs_in_batches

CLASS_NAMES = ["nBL", "BL"]
ARCHITECTURE = {"name": "torchvision.models.resnet34", "weights": None, "num_classes": 2,
                "in_channels": 3, "torchvision_version": torchvision.__version__}  # fmt: skip


def blazhko_resnet34() -> nn.Module:
    """The network: torchvision's ResNet-34, random init, two classes (nBL, BL)."""
    return torchvision.models.resnet34(weights=None, num_classes=2)


def build_blazhko(architecture: dict) -> nn.Module:
    """The network of a model card's ``architecture`` (only the paper's ResNet-34 exists)."""
    if architecture.get("name") != ARCHITECTURE["name"] or architecture.get("num_classes") != 2:
        raise ValueError(f"not a Blazhko ResNet-34 architecture: {architecture}")
    return blazhko_resnet34()


def network_input(images: np.ndarray) -> torch.Tensor:
    """(n, 3, S, S) float32 from grey (n, S, S) ink images (0..1 float or 0..255 uint8)."""
    x = torch.from_numpy(np.array(images))  # a copy: shard arrays are read-only
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return x.unsqueeze(1).expand(-1, 3, -1, -1)


def p_bl(model: nn.Module, images: np.ndarray, *, batch_size: int = 256,
         device: str = "auto") -> np.ndarray:  # fmt: skip
    """Softmax P(BL) of every image (float64)."""
    if len(images) == 0:
        return np.empty(0)
    x = network_input(images).contiguous().numpy()
    logits = outputs_in_batches(model, x, batch_size=batch_size, device=device)
    return torch.softmax(torch.from_numpy(logits), dim=1)[:, 1].numpy()


def half_weights(model: nn.Module) -> nn.Module:
    """Convolution and linear weights to float16 in place (halves the shipped file).

    Batch-norm weights and running statistics stay float32: running variances of an early
    epoch can exceed float16's range (65504) and would load as inf. Loading casts back to
    float32, so inference always runs in float32.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            module.half()
    return model
