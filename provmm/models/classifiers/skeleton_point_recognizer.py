"""``SkeletonPointRecognizer``: weakly supervised spatio-temporal action
localisation from skeletons (SKP), with Skeleton BatchMix and provenance
gradient guidance on the mixed features (paper Sec. 3.2.2 and 4.3.2,
``L = L_cls + alpha * L_PG``, Eq. 1)."""
import copy
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample

from provmm.models.backbones.skeleton_point_net import instance_validity
from provmm.models.data_preprocessors.provenance_mix_batch_augment import \
    attach_provenance
from provmm.provenance.batchmix import mixed_validity
from provmm.registry import BATCH_AUGMENTS, MODELS

MIL_POOLINGS = ('feature', 'score')


@MODELS.register_module()
class SkeletonPointRecognizer(BaseModel):
    """Per-skeleton features, a linear classifier and a pooling switch.

    The backbone (:class:`~provmm.models.backbones.SkeletonPointNet`) gives
    per-skeleton features ``X`` ``(B, P, T, E)``; the head is one linear
    layer ``E -> K`` (weights ``N(0, 0.01)``, as mmpretrain's
    ``LinearClsHead``).

    Pooling switch (multiple-instance learning with the video label):

    - training (``loss``): ``mil_pooling='feature'`` (SKP, default) takes the
      max over the real instances ``(P, T)`` of ``X`` and the head gives the
      video score, ``z = W max_s X_s + b``; ``'score'`` applies the head to
      every instance and takes the max of the scores, ``z = max_s (W X_s +
      b)``.
    - test (``predict``): no pooling; every skeleton of every frame gets
      class scores ``W X_s + b`` ``(P, T, K)`` (``instance_scores``), padded
      instances (no real point, or ``person_valid`` False) get ``-inf``.

    What links the two, exactly: with ``'score'`` the video score is the max
    over instances of the test-mode instance scores. With ``'feature'`` the
    video score is the head applied to the max over instances of the
    test-mode features; it equals the max of the instance scores when one
    instance holds every channel's max (a single real instance, say) and is
    an upper bound of it for a class whose weights are all >= 0; in general
    neither holds.

    Training step (``loss``), one forward:

    1. ``X = backbone(inputs)``;
    2. BatchMix (``batch_mix``, Eq. 4-5): ``X~``, the mask ``M`` ``(B, P,
       T)``, the partners and ``lam``; the soft labels mix with ``lam``;
       the provenance fields are written on the samples (the contract of
       docs/provenance_contract.md: ``prov_mask`` ``(P, T)``, ``guidance``
       ``'soft'`` for a partner of another label, ``'none'`` otherwise,
       ``gt_label_b``, ``mix_partner``, ``mix_lam``), the mix happening in
       the model rather than in the data preprocessor;
    3. the guided tensor is ``X~`` in channel-first layout, ``(B, E, P,
       T)`` (a view of ``X~``; the head consumes it, so ``X~ = f(X)`` stays
       in the graph); ``prov_mask`` is its shape without the channel axis,
       broadcast over ``E`` (Eq. 4's mask is constant along ``E``);
    4. ``loss_cls`` (soft-label cross-entropy on the video score) and the
       provenance loss (:class:`ProvenanceGradientLoss`: input gradients of
       the logits with respect to ``X~``, ``create_graph=True``).

    The input gradients are taken with respect to ``X~``, so the double
    backward runs through the head, the pooling and the mix only (PyTorch's
    own double backward; provmm's closed-form kernels cover conv/BN/ReLU
    networks). With the linear head ``grad_X~ f_c`` is ``W_c`` put where
    the pooling takes its max: ``L_PG`` trains the head's weights; it does
    not reach the backbone (the argmax is piecewise constant in ``X~``).

    Args:
        backbone (dict | nn.Module): a backbone with ``out_channels``
            returning ``(B, P, T, E)`` from ``(B, P, T, V, 3)``.
        num_classes (int): ``K``.
        batch_mix (dict | object, optional): ``SkeletonBatchMix`` config;
            ``None`` trains without mixing.
        provenance_loss (dict | nn.Module, optional):
            ``ProvenanceGradientLoss`` config (Table 8, UCF101-24: alpha =
            0.01); ``None`` trains with ``loss_cls`` only.
        loss_cls (dict): classification loss on soft labels. Defaults to
            ``CrossEntropyLoss(use_soft=True)``.
        mil_pooling (str): ``'feature'`` or ``'score'`` (see above).
        data_preprocessor (dict | nn.Module, optional): defaults to
            ``SkeletonDataPreprocessor(num_classes=num_classes)``.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 num_classes: int,
                 batch_mix: Optional[dict] = None,
                 provenance_loss: Optional[Union[dict, nn.Module]] = None,
                 loss_cls: dict = dict(type='CrossEntropyLoss',
                                       use_soft=True),
                 mil_pooling: str = 'feature',
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None):
        if mil_pooling not in MIL_POOLINGS:
            raise ValueError(f'SkeletonPointRecognizer: mil_pooling must be '
                             f'one of {MIL_POOLINGS}, got {mil_pooling!r}')
        if data_preprocessor is None or isinstance(data_preprocessor, dict):
            data_preprocessor = copy.deepcopy(data_preprocessor or {})
            # scoped: the default scope may be another project's
            data_preprocessor.setdefault('type',
                                         'provmm.SkeletonDataPreprocessor')
            data_preprocessor.setdefault('num_classes', num_classes)
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = _build(MODELS, backbone)
        if not hasattr(self.backbone, 'out_channels'):
            raise TypeError('SkeletonPointRecognizer: the backbone must '
                            'expose out_channels (E); '
                            f'{type(self.backbone).__name__} does not')
        self.num_classes = num_classes
        self.head = nn.Linear(self.backbone.out_channels, num_classes)
        # mmpretrain's LinearClsHead initialisation
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)
        self.loss_cls = _build(MODELS, copy.deepcopy(loss_cls))
        self.batch_mix = _build(BATCH_AUGMENTS, batch_mix)
        self.provenance_loss = _build(MODELS, provenance_loss)
        self.mil_pooling = mil_pooling

    @property
    def with_provenance_loss(self) -> bool:
        return self.provenance_loss is not None

    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[List] = None,
                mode: str = 'tensor'):
        """``'loss'``: :meth:`loss`; ``'predict'``: :meth:`predict`;
        ``'tensor'``: the instance scores ``(B, P, T, K)`` (pooling off,
        ``-inf`` for padded instances)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            features, valid = self.extract_feat(inputs)
            return self.instance_logits(features, valid)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def extract_feat(self, inputs: torch.Tensor
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``X`` ``(B, P, T, E)`` and the real instances ``(B, P, T)``
        bool."""
        return self.backbone(inputs), instance_validity(inputs)

    def video_logits(self, features: torch.Tensor,
                     valid: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` video scores (pooling on, see the class docstring)."""
        if self.mil_pooling == 'feature':
            return self.head(instance_max(features, valid))
        return instance_max(self.head(features), valid)

    def instance_logits(self, features: torch.Tensor,
                        valid: torch.Tensor) -> torch.Tensor:
        """``(B, P, T, K)`` per-instance scores (pooling off), ``-inf`` where
        ``valid`` is False."""
        logits = self.head(features)
        return logits.masked_fill(~valid.unsqueeze(-1), float('-inf'))

    def loss(self, inputs: torch.Tensor,
             data_samples: List) -> Dict[str, torch.Tensor]:
        """``loss_cls`` and ``alpha * L_PG`` (with its diagnostics) from one
        forward pass (steps in the class docstring).

        Args:
            inputs (Tensor): ``(B, P, T, V, 3)``.
            data_samples (list[DataSample]): with ``gt_label`` (and
                ``gt_score``); the provenance fields are written here.
        """
        features, valid = self.extract_feat(inputs)
        scores = self.target_scores(data_samples, features.device)
        mixed = None
        if self.batch_mix is not None:
            mixed, scores = self.batch_mix.mix_with_provenance(
                features, scores)
            features, valid = mixed.inputs, mixed_validity(valid, mixed)
        # X~ channel first, (B, E, P, T): the guided tensor, read by the head
        guided = features.permute(0, 3, 1, 2)
        if self.with_provenance_loss and not guided.requires_grad:
            guided = guided.detach().requires_grad_(True)  # frozen backbone
        logits = self.video_logits(guided.permute(0, 2, 3, 1), valid)
        losses = {'loss_cls': self.loss_cls(logits, scores)}
        attach_provenance(guided, data_samples, mixed)
        if self.with_provenance_loss:
            losses.update(self.provenance_loss(guided, logits, data_samples,
                                               losses['loss_cls']))
        return losses

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List] = None) -> List:
        """Video and per-skeleton predictions.

        Writes on every sample ``pred_score`` (softmax of the video score),
        ``pred_label``, ``instance_scores`` ``(P, T, K)`` (logits, ``-inf``
        for padded instances), ``instance_valid`` ``(P, T)`` bool (real
        points and, when given, ``person_valid``), and the detections that
        ``FrameAP`` / ``VideoAP`` read: ``pred_scores`` ``(P, T, K)``, the
        sigmoid of the instance logits (each class keeps the ranking of its
        logits; scores in (0, 1) as ACT's tube linking assumes; 0 where
        padded), ``person_valid`` and, when the test pipeline packed
        ``person_boxes``, ``pred_boxes``: a skeleton's box is its person's.
        """
        features, valid = self.extract_feat(inputs)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(inputs.shape[0])]
        if data_samples and 'person_valid' in data_samples[0]:
            person_valid = torch.stack([
                torch.as_tensor(s.person_valid) for s in data_samples
            ]).to(valid.device, torch.bool)
            if person_valid.shape != valid.shape:
                raise ValueError(
                    'SkeletonPointRecognizer: person_valid must be (P, T) = '
                    f'{tuple(valid.shape[1:])} per sample, got '
                    f'{tuple(person_valid.shape[1:])}')
            valid = valid & person_valid
        instances = self.instance_logits(features, valid)
        video = self.video_logits(features, valid)
        probs = video.softmax(dim=1)
        for sample, prob, scores, real in zip(data_samples, probs, instances,
                                              valid):
            sample.set_pred_score(prob).set_pred_label(prob.argmax())
            sample.set_field(scores, 'instance_scores')
            sample.set_field(real, 'instance_valid')
            sample.set_field(detection_scores(scores, real), 'pred_scores')
            sample.set_field(real, 'person_valid')
            if 'person_boxes' in sample:
                sample.set_field(sample.person_boxes, 'pred_boxes')
        return data_samples

    def target_scores(self, data_samples: List,
                      device: torch.device) -> torch.Tensor:
        """``(B, K)`` float soft labels: the samples' ``gt_score``, else the
        one-hot ``gt_label``."""
        if data_samples and 'gt_score' in data_samples[0]:
            return torch.stack([s.gt_score for s in data_samples]).to(
                device, torch.float32)
        labels = torch.cat([s.gt_label.view(-1)[:1] for s in data_samples])
        return F.one_hot(labels.to(device), self.num_classes).float()


def detection_scores(logits: torch.Tensor,
                     valid: torch.Tensor) -> torch.Tensor:
    """``(P, T, K)`` sigmoid of instance logits, 0 where ``valid`` is
    False."""
    safe = logits.masked_fill(~valid.unsqueeze(-1), 0.).sigmoid()
    return safe.masked_fill(~valid.unsqueeze(-1), 0.)


def instance_max(tensor: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Max over the real instances: ``(B, P, T, C)`` -> ``(B, C)``.

    Padded instances are ``-inf`` before the max (they never win); a sample
    without a real instance gets zeros. ``amax`` splits the gradient evenly
    among tied maxima.
    """
    masked = tensor.masked_fill(~valid.unsqueeze(-1), float('-inf'))
    pooled = masked.amax(dim=(1, 2))
    return torch.where(valid.flatten(1).any(1, keepdim=True), pooled,
                       torch.zeros_like(pooled))


def _build(registry, cfg):
    if cfg is None or not isinstance(cfg, dict):
        return cfg
    return registry.build(cfg)
