"""CPU speed machinery: drop-in replacements of torch.nn layers that compute the same function faster on the CPU.

Each layer here is a subclass of its torch.nn layer, with the same parameters and state-dict
keys, and keeps torch.nn's own forward beside its fast one: it takes the fast form only on the
CPU and where that form applies, and is exactly torch.nn's everywhere else (CUDA,
``torch.compile``, other padding modes). Model files build them as they would torch.nn's and
read as plain PyTorch.

- ``conv.py``: ``ConvTranspose2d`` computes its output, and ``Conv2d`` its input gradient, by
  the equivalent convolution that oneDNN runs faster where there is one (a flipped kernel, a
  split into output phases); ``Conv2dSame`` and ``ConvTranspose2dSame`` are TensorFlow's
  ``padding='same'`` in the same forms; ``Conv2d`` and ``Linear`` can weight their weight
  gradients per sample (``per_sample_weight_grads``), which lets the simultaneous step take D's
  and G's gradients from one backward pass through D.
- ``forms.py``: which form computes each convolution: measured on this machine on first use of a
  shape and kept on disk per CPU, ISA, thread count and torch (``train.conv_forms=measure``, the
  default), or fixed shape rules (``rules``), like ``torch.backends.cudnn.benchmark``.
- ``resample.py``: ``Upsample`` / ``upsample_nearest``: nearest upsampling by an integer factor as a
  broadcast copy, the same values 7x faster than torch 2.13's CPU kernel (ACGAN, StackGAN, ResNet).
- ``attention.py``: ``attention``, SAGAN's ``softmax(q k^T) v`` by PyTorch's fused kernel (flash
  attention on the CPU), which never stores the score matrix: 2.3x faster for resnet128's attention at
  64x64, where the written-out scores take 0.5 GB per tensor, and its training step 1.9x.
- ``dropout.py``: ``Dropout`` makes its CPU mask from 15-bit draws (two per 32-bit draw) instead
  of ``bernoulli_``'s one generator call per element: the same drop probability (to within
  2**-16) and scaling, from the same generator, but not the same random numbers as
  ``nn.Dropout``.
- ``memory.py``: glibc's allocator told to keep freed blocks (``mallopt``), so a training step
  reuses the last step's pages instead of faulting in fresh ones; set once by ``Trainer`` on the
  CPU, never a change to a number (``GANFORGE_MALLOC=system`` opts out).
- ``fused.py``: the simultaneous update's two gradients. ``separate_gradients`` is the plain
  form (two gradient calls over one graph); ``shared_d_backward`` takes both from one backward
  pass through D, and ``shared_d_backward_applies`` is the one test of when that is exact.

The switch: inside ``with reference_forms():`` the convolutions take torch.nn's own forms (what
``ganforge bench`` counts FLOPs in, and the A side of ``benchmarks/step_ab.py forms``);
``Dropout`` keeps its mask there; ``attention`` is written out there. What each form gains, and where it was measured:
docs/benchmarks.md, "What each change bought".
"""

from ganforge.ops.attention import attention
from ganforge.ops.conv import (Conv2d, Conv2dSame, ConvTranspose2d, ConvTranspose2dSame, Linear, SampleWeights,
                               input_grad_form, per_sample_weight_grads, phased_conv_transpose2d, reference_forms,
                               same_padding, scale_per_sample, transposed_form)
from ganforge.ops.dropout import Dropout
from ganforge.ops.resample import Upsample, upsample_nearest

__all__ = ["attention", "Conv2d", "Conv2dSame", "ConvTranspose2d", "ConvTranspose2dSame", "Dropout", "Linear", "SampleWeights",
           "input_grad_form", "per_sample_weight_grads", "phased_conv_transpose2d", "reference_forms", "same_padding",
           "scale_per_sample", "transposed_form", "Upsample", "upsample_nearest"]
