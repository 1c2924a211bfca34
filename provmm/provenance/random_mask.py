"""Control masks for the Table 6 ablation of the paper (Sec. 4.4.4).

- ``random``: "random binary values assigned per pixel". Each pixel is 1 with
  probability equal to the sample's own-label fraction ``mean(M)``, so the
  control moves the same amount of area to each source as the true mask and
  differs only in *where* it lies.
- ``unmasked``: "gradient regularisation applied over the entire input":
  ``M = 0`` everywhere, i.e. ``|| grad_x f_A ||^2`` on every input element.
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
    """All-zero mask: Eq. 10 then penalises the whole input gradient."""
    return torch.zeros_like(provenance_mask, dtype=torch.float32)
