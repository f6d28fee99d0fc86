"""The auxiliary-classifier GAN (ACGAN) of the Keras ACGAN tutorial, layer for layer.

G multiplies the noise by an embedding of the label and up-samples with nearest-neighbour
UpSampling2D + 3x3 convolutions; D has a validity head and a class head. Both heads return
logits (the tutorial's sigmoid and softmax live in the losses: BCE on logits, cross-entropy).

Keras BatchNormalization(momentum=0.8) keeps ``moving = 0.8 * moving + 0.2 * batch``, which is
PyTorch's momentum 0.2; Keras' epsilon is 1e-3. Keras initialises dense and conv kernels
Glorot-uniform with zero biases and embeddings U(-0.05, 0.05).
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.errors import ConfigError
from ganforge.models.base import Discriminator, Generator
from ganforge.models.layers import Reshape, conv_same, glorot_uniform_init, maybe_sn
from ganforge.ops import Conv2d, Dropout, Upsample


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=1e-3, momentum=0.2)  # Keras BatchNormalization(momentum=0.8)


class ACGANGenerator(Generator):
    """z * Embedding(y) -> Dense(128*s*s, relu) -> BN -> Up -> Conv 128 -> Up -> Conv 64 -> Conv C, tanh.

    For 28x28: (B, 100) -> (B, 128, 7, 7) -> (B, 128, 14, 14) -> (B, 64, 28, 28) -> (B, C, 28, 28).
    """

    def __init__(self, z_dim: int, out_shape, num_classes: int):
        super().__init__(z_dim, out_shape, num_classes)
        c, h, w = out_shape
        if h % 4:
            raise ConfigError(f"architecture 'acgan' needs an image size divisible by 4, got {h}; set data.image_size=28")
        s = h // 4
        self.embed = nn.Embedding(num_classes, z_dim)
        self.net = nn.Sequential(
            nn.Linear(z_dim, 128 * s * s), nn.ReLU(),                  # (B, z) -> (B, 128*s*s)
            Reshape(128, s, s),                                        # -> (B, 128, s, s)
            _bn(128),
            Upsample(scale_factor=2, mode="nearest"),                  # -> (B, 128, 2s, 2s)
            Conv2d(128, 128, 3, 1, 1), nn.ReLU(),
            _bn(128),
            Upsample(scale_factor=2, mode="nearest"),                  # -> (B, 128, 4s, 4s)
            Conv2d(128, 64, 3, 1, 1), nn.ReLU(),                       # -> (B, 64, 4s, 4s)
            _bn(64),
            Conv2d(64, c, 3, 1, 1), nn.Tanh(),                         # -> (B, C, 4s, 4s)
        )
        glorot_uniform_init(self)
        nn.init.uniform_(self.embed.weight, -0.05, 0.05)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("the ACGAN generator needs class labels y")
        return self.net(z * self.embed(y))                             # (B, z) * (B, z)


class ACGANDiscriminator(Discriminator):
    """Four 3x3 convs (16, 32, 64, 128) with LeakyReLU(0.2) and Dropout(0.25); two heads on the features.

    For 28x28: (B, C, 28, 28) -> (B, 16, 14, 14) -> (B, 32, 7, 7) -> pad (B, 32, 8, 8) -> (B, 64, 4, 4)
    -> (B, 128, 4, 4) -> flatten 2048 -> validity logit (B,) and class logits (B, K).
    """

    def __init__(self, in_shape, num_classes: int, slope: float = 0.2, dropout: float = 0.25, sn: bool = False):
        super().__init__(in_shape, num_classes)
        c, size, _ = in_shape
        conv1, size = conv_same(c, 16, 3, 2, size, sn)
        conv2, size = conv_same(16, 32, 3, 2, size, sn)
        size += 1                                                      # ZeroPadding2D(((0, 1), (0, 1)))
        conv3, size = conv_same(32, 64, 3, 2, size, sn)
        conv4, size = conv_same(64, 128, 3, 1, size, sn)
        self.body = nn.Sequential(
            conv1, nn.LeakyReLU(slope), Dropout(dropout),
            conv2, nn.ZeroPad2d((0, 1, 0, 1)), nn.LeakyReLU(slope), Dropout(dropout), _bn(32),
            conv3, nn.LeakyReLU(slope), Dropout(dropout), _bn(64),
            conv4, nn.LeakyReLU(slope), Dropout(dropout),
            nn.Flatten(),                                              # -> (B, 128 * size * size)
        )
        features = 128 * size * size
        self.validity = maybe_sn(nn.Linear(features, 1), sn)          # -> (B, 1) logit
        self.classes = maybe_sn(nn.Linear(features, num_classes), sn)  # -> (B, K) logits
        glorot_uniform_init(self)

    def forward(self, x: torch.Tensor, y=None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.validity(h).squeeze(1), self.classes(h)
