"""Control masks for the Table 6 ablation of the paper (Sec. 4.4.4), and one
more.

- ``random``: "random binary values assigned per pixel". Each pixel is 1 with
  probability equal to the sample's own-label fraction ``mean(M)``, so the
  control moves the same amount of area to each source as the true mask and
  differs only in *where* it lies.
- ``unmasked``: "gradient regularisation applied over the entire input":
  ``M = 0`` everywhere, i.e. ``|| grad_x f_A ||^2`` on every input element,
  of every sample that has synthetic content (a mask with some value below
  1). A sample without any (an unmixed image, a real image without an edit)
  keeps its all-ones mask and is not penalised, as under the true mask and
  the random control: the controls change *where* the penalty acts, not
  *which* samples it acts on.
- ``shifted`` (not in the paper): the true mask rolled cyclically by half the
  height and half the width. It keeps the mask's area and shape, so also
  its boundary length, and moves it off the target: a control for penalties
  that only respond to a spatially structured mask (``normalize=True``,
  whose value under the random and all-zero masks hardly depends on the
  model).
"""
from typing import Optional

import torch


def random_pixel_mask(provenance_mask: torch.Tensor,
                      generator: Optional[torch.Generator] = None
                      ) -> torch.Tensor:
    """Per-pixel Bernoulli mask with the per-sample mean of a given mask.

    Args:
        provenance_mask (Tensor): ``(B, ...)`` true mask in [0, 1].
        generator (torch.Generator, optional): random source.

    Returns:
        Tensor: ``(B, ...)`` float mask of 0/1, same device.
    """
    keep = provenance_mask.float().flatten(1).mean(1)
    keep = keep.view(-1, *([1] * (provenance_mask.dim() - 1)))
    device = provenance_mask.device if generator is None else generator.device
    noise = torch.rand(provenance_mask.shape, generator=generator,
                       device=device)
    return (noise.to(provenance_mask.device) < keep).float()


def unmasked_mask(provenance_mask: torch.Tensor) -> torch.Tensor:
    """All-zero mask for samples with synthetic content, all-ones otherwise.

    Eq. 10 then penalises the whole input gradient of every sample whose
    ``(B, ...)`` provenance mask has a value below 1, and nothing else.
    """
    synthetic = (provenance_mask.flatten(1) < 1).any(1)
    synthetic = synthetic.view(-1, *([1] * (provenance_mask.dim() - 1)))
    return (~synthetic).float().expand_as(provenance_mask).contiguous()


def shifted_mask(provenance_mask: torch.Tensor) -> torch.Tensor:
    """The ``(B, H, W)`` or ``(B, C, H, W)`` mask rolled cyclically by
    ``(H // 2, W // 2)`` over its last two axes."""
    height, width = provenance_mask.shape[-2:]
    return torch.roll(provenance_mask.float(), (height // 2, width // 2),
                      dims=(-2, -1))
