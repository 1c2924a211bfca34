"""``ConvPoolClsHead``: SAT's class head (wpy1999/SAT, ``Model/SAT.py``), a
convolution on the patch feature map followed by a global average."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import ClsHead

from provmm.registry import MODELS


@MODELS.register_module()
class ConvPoolClsHead(ClsHead):
    """``logits = mean_ij Conv2d(C, K, k, padding=k // 2)(F)[:, :, i, j]``
    on the last feature map ``F`` ``(B, C, h, w)``.

    The per-position class scores before the average (:meth:`class_maps`)
    are this head's class activation maps. With ``kernel_size=1`` the head
    is GAP + linear with the same weights (averaging commutes with a 1 x 1
    convolution). Use it with ``neck=None``: it needs the map, not a pooled
    vector.

    The convolution keeps PyTorch's default initialisation, as the original
    (its ``_init_weights`` touches only ``nn.Linear`` and ``nn.LayerNorm``,
    so ``self.head.apply(self._init_weights)`` leaves the ``Conv2d`` as
    built); hence ``init_cfg=None`` by default.

    Args:
        num_classes (int): ``K``.
        in_channels (int): ``C``.
        kernel_size (int): odd kernel size; padding ``kernel_size // 2``
            keeps the map's size. Defaults to 3 (the original).
        init_cfg (dict, optional): Defaults to None (see above).
        **kwargs: as :class:`mmpretrain.models.heads.ClsHead` (``loss``,
            ``topk``, ``cal_acc``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 kernel_size: int = 3,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(
                f'num_classes={num_classes} must be a positive integer')
        if kernel_size < 1 or kernel_size % 2 == 0:
            # an even kernel would shift the map by half a cell
            raise ValueError('ConvPoolClsHead: kernel_size must be a '
                             f'positive odd int, got {kernel_size}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size,
                              padding=kernel_size // 2)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The last feature map ``(B, C, h, w)``, the input of the final
        layer (as ``LinearClsHead`` returns its last feature)."""
        feat = feats[-1]
        if feat.dim() != 4:
            raise ValueError(
                'ConvPoolClsHead needs the (B, C, h, w) feature map (use '
                f'neck=None), got shape {tuple(feat.shape)}')
        return feat

    def class_maps(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """``(B, K, h, w)`` class scores per position, before the average."""
        return self.conv(self.pre_logits(feats))

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """``(B, K)`` logits: :meth:`class_maps` averaged over ``h, w``."""
        return self.class_maps(feats).mean(dim=(2, 3))
