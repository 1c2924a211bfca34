"""``SATVisionTransformer``: a ViT with the spatial-aware token of SAT (Wu et
al., ICCV 2023, "Spatial-Aware Token for Weakly Supervised Object
Localization"; code wpy1999/SAT, ``Model/SAT.py``).

A learnable spatial-aware token ``t_loc`` (with its own position embedding)
is appended after the patch tokens. In each of the last ``L_s`` layers the
token queries the other tokens (spatial-query attention)::

    A   = q k^T / sqrt(d)                            (B, heads, N, N)
    m^l = sigmoid(mean_heads A[:, :, loc, :])        (B, N), in (0, 1)
    out = (softmax(A) * m^l[:, None, None, :]) v     every query, key-wise

so every token attends less to keys the spatial token deems background. The
localization map is the mean of ``m^l`` over those layers at the patch
positions, ``M = mean_l m^l[patches]`` ``(B, 1, h, w)``, values in (0, 1).
"""
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed

from provmm.registry import MODELS


def spatial_query_attention(attn: nn.Module, x: torch.Tensor
                            ) -> Tuple[torch.Tensor, torch.Tensor]:
    """SAT's spatial-query attention with the weights of mmpretrain's
    ``MultiheadAttention`` ``attn`` on tokens ``x`` ``(B, N, C)``, the last
    of which is the spatial-aware token (module docstring).

    Returns:
        tuple: the attention output ``(B, N, C)`` (before the residual) and
        the token's foreground probabilities ``m`` ``(B, N)``.
    """
    B, N, _ = x.shape
    qkv = attn.qkv(x).reshape(B, N, 3, attn.num_heads,
                              attn.head_dims).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    logits = (q @ k.transpose(-2, -1)) * attn.head_dims**-0.5
    mask = logits[:, :, -1, :].mean(dim=1).sigmoid()
    weights = logits.softmax(dim=-1) * mask[:, None, None, :]
    if attn.training and attn.attn_drop > 0:
        weights = nn.functional.dropout(weights, attn.attn_drop)
    out = (weights @ v).transpose(1, 2).reshape(B, N, attn.embed_dims)
    out = attn.out_drop(attn.gamma1(attn.proj_drop(attn.proj(out))))
    return out, mask


@MODELS.register_module()
class SATVisionTransformer(VisionTransformer):
    """mmpretrain's ``VisionTransformer`` with SAT's spatial-aware token.

    Every parameter of the parent keeps its name, so a DeiT/ViT checkpoint
    loads unchanged; SAT adds ``loc_token`` and ``loc_embed`` ``(1, 1, C)``
    only (truncated-normal, std 0.02, as the original). Tokens are
    ``[cls, patches, loc]``; the class token is kept (its output is unused,
    as in the original, which classifies from the patch tokens).

    Args:
        *args, **kwargs: as :class:`VisionTransformer`; ``out_type`` must be
            ``'featmap'`` (the default here).
        num_spatial_layers (int): ``L_s``, the last layers whose attention
            is masked by the spatial-aware token and whose masks make the map.
            Default 3 (the original's ``cur_depth >= 9`` of 12 layers).

    Returns (``forward``):
        tuple[Tensor]: ``(M, *featmaps)``: the localization map ``M``
        ``(B, 1, h, w)`` in (0, 1), then the patch-token feature maps
        ``(B, C, h, w)`` of ``out_indices`` (the spatial token left out).
        Necks and heads read the last element, so a ``GlobalAveragePooling``
        neck and a linear head classify the last feature map unchanged.
    """

    def __init__(self, *args, num_spatial_layers: int = 3,
                 out_type: str = 'featmap', **kwargs):
        if out_type != 'featmap':
            raise ValueError(
                "SATVisionTransformer: out_type must be 'featmap' (the map "
                f'is spatial), got {out_type!r}')
        super().__init__(*args, out_type=out_type, **kwargs)
        if not 1 <= num_spatial_layers <= self.num_layers:
            raise ValueError(
                'SATVisionTransformer: num_spatial_layers must be in '
                f'[1, {self.num_layers}], got {num_spatial_layers}')
        self.num_spatial_layers = num_spatial_layers
        self.loc_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.loc_embed = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        # At construction, so a Pretrained init_cfg (which lacks them) or a
        # full SAT checkpoint decides the rest.
        trunc_normal_(self.loc_token, std=.02)
        trunc_normal_(self.loc_embed, std=.02)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``x`` ``(B, 3, H, W)`` -> ``(M, *featmaps)`` (see the class)."""
        B = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = x + resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            patch_resolution,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)
        loc_token = (self.loc_token + self.loc_embed).expand(B, -1, -1)
        x = self.drop_after_pos(torch.cat((x, loc_token), dim=1))
        x = self.pre_norm(x)

        first_spatial = self.num_layers - self.num_spatial_layers
        masks, outs = [], []
        for i, layer in enumerate(self.layers):
            if i >= first_spatial:
                attn_out, mask = spatial_query_attention(
                    layer.attn, layer.ln1(x))
                x = x + attn_out
                x = layer.ffn(layer.ln2(x), identity=x)
                masks.append(mask)
            else:
                x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x[:, :-1], patch_resolution))

        layer_mean = torch.stack(masks).mean(dim=0)
        loc_map = layer_mean[:, self.num_extra_tokens:-1].reshape(
            B, 1, *patch_resolution)
        return (loc_map, *outs)
