"""SKP-style point network for skeleton sequences (Structured Keypoint
Pooling, Hachiuma et al., CVPR 2023; the network guided in the paper's
Sec. 3.2.2 / 4.3.2).

Every keypoint of every person slot in every frame is a point
``(x, y, t, confidence, joint index)``:

- ``x, y, confidence``: the input's three channels (coordinates in
  ``[-1, 1]``, joint score);
- ``t``: the frame's position in the clip, ``linspace(-1, 1, T)``;
- joint index: a learned ``nn.Embedding(num_joints, D)`` added to the
  point embedding (the same as a one-hot joint index concatenated to the
  point and multiplied by a weight matrix).

``t`` and the joint index are made from the input's layout, not read from
it: they are not input values, and nothing differentiates with respect to
them.

Network: a point-embedding MLP to ``D`` channels, then ``num_blocks``
cascaded {MLP block -> grouped pool block}:

- MLP block: ``x + BN(FC(GELU(BN(FC(x)))))`` then GELU, hidden width
  ``mlp_ratio * C`` (2.0);
- grouped pool block: for each skeleton instance ``s`` (person slot ``p`` at
  frame ``t``) ``[max over the instance's V points ; max over the context's
  points]``, so the channels double (``D``, ``2D``, ``4D``, ...:
  256/512/1024 in the paper, ``embed_dims=256``). SKP's context is every
  point of the sample (``context='video'``). Then every instance of a video
  carries the same context half, and a linear head can score the video
  from it alone: the instance scores of one frame differ only through the
  instance half. ``context='person'`` (not in SKP) takes the max over the
  points of the instance's person slot in every frame instead (a slot is a
  track where the pose file tracks persons), so a person's score sees that
  person's motion but no other person; ``'none'`` drops the context half
  (a single pose, no motion).

The grouped pool block's output is one vector per instance: every point of
an instance carries the same vector afterwards, so the later MLP blocks
(point-wise) are run once per instance (the same result, ``V`` times
cheaper), and their "max over the instance's points" is that vector.

Output: per-skeleton features ``X in R^{B x P x T x E}`` with
``E = embed_dims * 2 ** num_blocks`` (``embed_dims`` with ``context='none'``);
the zero vector for padded instances.

Padding. A point is real when its confidence is > 0 (a padded or missing
person has score 0 on every joint). Padded points never enter the network:
the MLPs run on the real points (and instances) only, gathered into rows,
so batch-norm statistics come from real points alone, and every max runs on
a tensor where padded entries are ``-inf``. An instance without any real
point, or a sample without any, gets zeros, never ``-inf`` or NaN.
"""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from provmm.registry import MODELS

CONTEXTS = ('video', 'person', 'none')


def point_validity(inputs: torch.Tensor) -> torch.Tensor:
    """``(B, P, T, V)`` bool: the points whose confidence is > 0."""
    _check_skeletons(inputs)
    return inputs[..., 2] > 0


def instance_validity(inputs: torch.Tensor) -> torch.Tensor:
    """``(B, P, T)`` bool: the skeleton instances with a real point."""
    return point_validity(inputs).any(-1)


class PointMLPBlock(nn.Module):
    """Residual MLP on ``(N, C)`` rows: ``GELU(x + BN(FC(GELU(BN(FC(x))))))``.

    Args:
        channels (int): ``C``.
        mlp_ratio (float): hidden width ``mlp_ratio * C``.
    """

    def __init__(self, channels: int, mlp_ratio: float = 2.0):
        super().__init__()
        hidden = int(round(channels * mlp_ratio))
        self.fc1 = nn.Linear(channels, hidden)
        self.norm1 = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.norm2 = nn.BatchNorm1d(channels)
        self.act = nn.GELU()

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        hidden = self.act(self.norm1(self.fc1(rows)))
        return self.act(rows + self.norm2(self.fc2(hidden)))


@MODELS.register_module()
class SkeletonPointNet(BaseModule):
    """SKP-style point network: ``(B, P, T, V, 3)`` skeletons to
    ``(B, P, T, E)`` per-skeleton features (see the module docstring).

    Args:
        num_joints (int): ``V`` (17 COCO joints).
        embed_dims (int): ``D``, the point-embedding width. Defaults to 64
            (CPU-friendly; the paper's network uses 256).
        num_blocks (int): cascaded {MLP block, grouped pool block}; ``E =
            embed_dims * 2 ** num_blocks`` (``embed_dims`` without a
            context). Defaults to 2.
        mlp_ratio (float): MLP expansion. Defaults to 2.0.
        context (str): the second half of a grouped pool block's output:
            ``'video'`` (SKP: max over every point of the sample),
            ``'person'`` (over the instance's person slot, all frames) or
            ``'none'`` (no second half; the channels do not double).
            Defaults to ``'video'``.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 num_joints: int = 17,
                 embed_dims: int = 64,
                 num_blocks: int = 2,
                 mlp_ratio: float = 2.0,
                 context: str = 'video',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if num_blocks < 1:
            raise ValueError('SkeletonPointNet: num_blocks must be >= 1, got '
                             f'{num_blocks}')
        if context not in CONTEXTS:
            raise ValueError(f'SkeletonPointNet: context must be one of '
                             f'{CONTEXTS}, got {context!r}')
        self.context = context
        self.num_joints = num_joints
        self.embed_dims = embed_dims
        self.num_blocks = num_blocks
        growth = 1 if context == 'none' else 2
        self.out_channels = embed_dims * growth**num_blocks
        # (x, y, t, confidence) -> D, plus the joint index embedding.
        self.point_fc = nn.Linear(4, embed_dims)
        self.joint_embed = nn.Embedding(num_joints, embed_dims)
        self.embed_norm = nn.BatchNorm1d(embed_dims)
        self.embed_act = nn.GELU()
        self.embed_out = nn.Linear(embed_dims, embed_dims)
        self.blocks = nn.ModuleList(
            PointMLPBlock(embed_dims * growth**i, mlp_ratio)
            for i in range(num_blocks))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Per-skeleton features.

        Args:
            inputs (Tensor): ``(B, P, T, V, 3)``, channels ``(x, y,
                confidence)``; confidence 0 marks padding.

        Returns:
            Tensor: ``(B, P, T, E)``, zero for padded instances.
        """
        if inputs.shape[-2] != self.num_joints:
            raise ValueError(f'SkeletonPointNet: inputs must have V='
                             f'{self.num_joints} joints, got '
                             f'{tuple(inputs.shape)} (B, P, T, V, 3)')
        points = point_validity(inputs)
        instances = points.any(-1)
        batch, persons, frames, _ = points.shape
        out = inputs.new_zeros(batch, persons, frames, self.out_channels)
        if not bool(points.any()):
            return out
        rows = self.embed_points(inputs, points)
        # (Ni,) sample and person slot of each real instance, for the
        # context max.
        sample_of_instance, person_of_instance = instances.nonzero()[:, :2].T
        for index, block in enumerate(self.blocks):
            rows = block(rows)
            if index == 0:
                # max over each instance's real points, padded ones at -inf
                per_instance = _scatter(rows, points,
                                        float('-inf')).amax(dim=3)
                rows = per_instance[instances]
            else:
                per_instance = _scatter(rows, instances, float('-inf'))
            # max over the context's real points (an empty sample or slot
            # has no instance row, so its -inf is never read)
            if self.context == 'video':
                context = per_instance.amax(dim=(1, 2))[sample_of_instance]
            elif self.context == 'person':
                context = per_instance.amax(dim=2)[sample_of_instance,
                                                   person_of_instance]
            else:
                continue
            rows = torch.cat([rows, context], dim=1)
        return out.index_put((instances, ), rows)

    def embed_points(self, inputs: torch.Tensor,
                     points: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` embeddings of the ``N`` real points (row-major order of
        ``points``)."""
        frames, joints = inputs.shape[2], inputs.shape[3]
        time = torch.linspace(-1, 1, frames, device=inputs.device,
                              dtype=inputs.dtype) if frames > 1 else \
            inputs.new_zeros(1)
        time = time.view(1, 1, frames, 1).expand(points.shape)[points]
        joint = torch.arange(joints, device=inputs.device).expand(
            points.shape)[points]
        real = inputs[points]  # (N, 3): x, y, confidence
        features = torch.stack([real[:, 0], real[:, 1], time, real[:, 2]],
                               dim=1)
        hidden = self.point_fc(features) + self.joint_embed(joint)
        return self.embed_out(self.embed_act(self.embed_norm(hidden)))


def _scatter(rows: torch.Tensor, where: torch.Tensor,
             fill: float) -> torch.Tensor:
    """``rows`` ``(N, C)`` put at the ``N`` true positions of ``where``,
    ``fill`` elsewhere: ``(*where.shape, C)``."""
    dense = rows.new_full((*where.shape, rows.shape[1]), fill)
    return dense.index_put((where, ), rows)


def _check_skeletons(inputs: torch.Tensor) -> None:
    if inputs.dim() != 5 or inputs.shape[-1] != 3:
        raise ValueError('skeleton inputs must be (B, P, T, V, 3) with '
                         'channels (x, y, confidence), got '
                         f'{tuple(inputs.shape)}')
