"""The variable-type classifiers ``CnnLstm``, ``DmdtCnn`` and ``Hybrid`` (Bassi et al.).

``CnnLstm`` (thesis Table 2 = Bassi et al. Fig. 4): Conv1D 64 k3, Conv1D 128 k3, MaxPool 2,
Conv1D 256 k5, Conv1D 256 k5, MaxPool 2, LSTM 64, LSTM 128 (last output), FC 1024, FC 512,
output. ``DmdtCnn`` (thesis Table 3 / Bassi Fig. 3): Conv2D 64 3x3, Conv2D 128 5x5, MaxPool
2x2, Conv2D 256 5x5, Conv2D 256 5x5, MaxPool 2x2, flatten, FC 1024, FC 512, output. ``Hybrid``
runs both feature extractors and concatenates their features before the dense layers (the
"next step" both papers name). ReLU after every convolution and dense layer; convolutions keep
the size (padding ``k // 2``; the papers do not state it, and "valid" padding would shrink the
22 x 23 Mahabal image to nothing after the second pooling); softmax is applied outside
(``CrossEntropyLoss`` on logits).

Layouts (:data:`LAYOUTS`): ``"exact"`` is the papers' layout. Flattening a 90 x 53 image into
FC 1024 costs ~75 M weights, and the exact widths cost ~0.4-4 G multiply-adds per image, so
the shipped default ``"compact"`` narrows every layer and pools before the dense layers
(``DmdtCnn``: adaptive average pooling to 4 x 4; ``CnnLstm``: the mean of the last LSTM's
outputs over time instead of its last output, which for Bassi's end-padded sequences sits
after the padding). ``"pooled"`` is the exact widths with the compact readout. Every size is
an explicit field of the architecture dict, so any other layout is one ``--set`` away.
"""

from __future__ import annotations

import torch
from torch import nn

LAYOUTS: dict[str, dict[str, dict]] = {
    "exact": {
        "sequence": {"conv": [64, 128, 256, 256], "lstm": [64, 128], "readout": "last"},
        "image": {"conv": [64, 128, 256, 256], "pool_to": None},
        "dense": {"dense": [1024, 512], "dropout": 0.0},
    },
    "pooled": {
        "sequence": {"conv": [64, 128, 256, 256], "lstm": [64, 128], "readout": "mean"},
        "image": {"conv": [64, 128, 256, 256], "pool_to": [4, 4]},
        "dense": {"dense": [1024, 512], "dropout": 0.0},
    },
    "compact": {
        "sequence": {"conv": [16, 32, 64, 64], "lstm": [32, 64], "readout": "mean"},
        "image": {"conv": [16, 32, 32, 32], "pool_to": [4, 4]},
        "dense": {"dense": [128, 64], "dropout": 0.3},
    },
}


class SequenceFeatures(nn.Module):
    """4 Conv1D (k 3, 3, 5, 5) with 2 MaxPool1D(2), then 2 LSTMs; input (n, length, channels)."""

    def __init__(self, in_channels: int, conv: list[int], lstm: list[int], readout: str) -> None:
        super().__init__()
        if len(conv) != 4 or len(lstm) != 2 or readout not in ("last", "mean"):
            raise ValueError(
                "sequence features need 4 conv widths, 2 LSTM sizes, readout last|mean"
            )
        c1, c2, c3, c4 = conv
        self.conv = nn.Sequential(
            nn.Conv1d(in_channels, c1, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(c2, c3, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(c3, c4, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(2),
        )
        self.lstm1 = nn.LSTM(c4, lstm[0], batch_first=True)
        self.lstm2 = nn.LSTM(lstm[0], lstm[1], batch_first=True)
        self.readout = readout
        self.out_features = lstm[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        h, _ = self.lstm1(h)
        h, _ = self.lstm2(h)
        return h[:, -1] if self.readout == "last" else h.mean(dim=1)


class ImageFeatures(nn.Module):
    """4 Conv2D (3x3, 5x5, 5x5, 5x5) with 2 MaxPool2D(2), flattened or pooled to ``pool_to``;
    input (n, channels, n_dm, n_dt)."""

    def __init__(
        self, in_channels: int, image_shape: list[int], conv: list[int], pool_to: list[int] | None
    ) -> None:
        super().__init__()
        if len(conv) != 4:
            raise ValueError("image features need 4 conv widths")
        c1, c2, c3, c4 = conv
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, c1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 5, padding=2),
            nn.ReLU(),
            nn.Conv2d(c3, c4, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        h, w = image_shape[0] // 4, image_shape[1] // 4
        if pool_to is not None:
            layers.append(nn.AdaptiveAvgPool2d(tuple(pool_to)))
            h, w = pool_to
        if h < 1 or w < 1:
            raise ValueError(f"image {image_shape} too small for two 2x2 poolings")
        self.conv = nn.Sequential(*layers, nn.Flatten())
        self.out_features = c4 * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _head(in_features: int, dense: list[int], dropout: float, n_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
    for width in dense:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    return nn.Sequential(*layers, nn.Linear(in_features, n_classes))


class CnnLstm(nn.Module):
    """1D CNN-LSTM on fixed-length sequences (n, length, channels) -> logits (n, classes)."""

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        *,
        conv: list[int],
        lstm: list[int],
        readout: str,
        dense: list[int],
        dropout: float,
    ) -> None:
        super().__init__()
        self.arch = {
            "class": "CnnLstm",
            "in_channels": in_channels,
            "n_classes": n_classes,
            "conv": list(conv),
            "lstm": list(lstm),
            "readout": readout,
            "dense": list(dense),
            "dropout": dropout,
        }
        self.features = SequenceFeatures(in_channels, conv, lstm, readout)
        self.head = _head(self.features.out_features, dense, dropout, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class DmdtCnn(nn.Module):
    """2D CNN on dm-dt images (n, bands, n_dm, n_dt) -> logits (n, classes)."""

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        *,
        image_shape: list[int],
        conv: list[int],
        pool_to: list[int] | None,
        dense: list[int],
        dropout: float,
    ) -> None:
        super().__init__()
        self.arch = {
            "class": "DmdtCnn",
            "in_channels": in_channels,
            "n_classes": n_classes,
            "image_shape": list(image_shape),
            "conv": list(conv),
            "pool_to": pool_to,
            "dense": list(dense),
            "dropout": dropout,
        }
        self.features = ImageFeatures(in_channels, image_shape, conv, pool_to)
        self.head = _head(self.features.out_features, dense, dropout, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Hybrid(nn.Module):
    """Both branches; their features concatenated before the dense layers.
    Inputs: sequence (n, length, channels) and image (n, bands, n_dm, n_dt)."""

    def __init__(
        self,
        sequence_channels: int,
        image_channels: int,
        n_classes: int,
        *,
        sequence: dict,
        image: dict,
        dense: list[int],
        dropout: float,
    ) -> None:
        super().__init__()
        self.arch = {
            "class": "Hybrid",
            "sequence_channels": sequence_channels,
            "image_channels": image_channels,
            "n_classes": n_classes,
            "sequence": dict(sequence),
            "image": dict(image),
            "dense": list(dense),
            "dropout": dropout,
        }
        self.sequence = SequenceFeatures(sequence_channels, **sequence)
        self.image = ImageFeatures(image_channels, **image)
        width = self.sequence.out_features + self.image.out_features
        self.head = _head(width, dense, dropout, n_classes)

    def forward(self, seq: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.sequence(seq), self.image(img)], dim=1))


MODELS = {"CnnLstm": CnnLstm, "DmdtCnn": DmdtCnn, "Hybrid": Hybrid}
Classifier = CnnLstm | DmdtCnn | Hybrid


def build_classifier(architecture: dict) -> Classifier:
    """The network of a card's ``architecture`` (the four classifier kinds' network)."""
    arch = dict(architecture)
    cls = MODELS[arch.pop("class")]
    if cls is Hybrid:
        return Hybrid(
            arch.pop("sequence_channels"), arch.pop("image_channels"), arch.pop("n_classes"), **arch
        )
    return cls(arch.pop("in_channels"), arch.pop("n_classes"), **arch)


def architecture_for(
    model: str,
    layout: str,
    n_classes: int,
    *,
    sequence_channels: int = 0,
    image_channels: int = 0,
    image_shape: tuple[int, int] = (0, 0),
) -> dict:
    """The architecture dict of ``model`` (CnnLstm, DmdtCnn, Hybrid) in a named layout."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    spec = LAYOUTS[layout]
    image = {**spec["image"], "image_shape": list(image_shape)}
    if model == "CnnLstm":
        return {
            "class": model,
            "in_channels": sequence_channels,
            "n_classes": n_classes,
            **spec["sequence"],
            **spec["dense"],
        }
    if model == "DmdtCnn":
        return {
            "class": model,
            "in_channels": image_channels,
            "n_classes": n_classes,
            **image,
            **spec["dense"],
        }
    if model == "Hybrid":
        return {
            "class": model,
            "sequence_channels": sequence_channels,
            "image_channels": image_channels,
            "n_classes": n_classes,
            "sequence": dict(spec["sequence"]),
            "image": image,
            **spec["dense"],
        }
    raise ValueError(f"unknown classifier {model!r} (known: {', '.join(MODELS)})")
