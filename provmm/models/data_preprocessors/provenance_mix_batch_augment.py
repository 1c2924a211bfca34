"""``ProvenanceMixBatchAugment``: ``ClsDataPreprocessor`` + mix provenance."""
import copy
from numbers import Number
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.models.utils.batch_augments import RandomBatchAugment

from provmm.registry import BATCH_AUGMENTS, MODELS


class ProvenanceRandomBatchAugment(RandomBatchAugment):
    """``RandomBatchAugment`` that keeps the provenance of its last mix.

    Chooses an augment exactly like mmpretrain's (``np.random.choice`` over
    the augments plus "no mixing" with the remaining probability); after a
    call, ``last_mix`` is the :class:`MixedBatch` or ``None`` if unmixed.
    """

    def __init__(self, augments, probs=None):
        if not isinstance(augments, (list, tuple)):
            augments = [augments]
        # Built here so provmm's registry (a child of mmpretrain's) is used.
        augments = [
            BATCH_AUGMENTS.build(copy.deepcopy(aug))
            if isinstance(aug, dict) else aug for aug in augments
        ]
        # RandomBatchAugment appends to `probs`: never touch the config's list.
        super().__init__(augments, copy.deepcopy(probs))
        for aug in self.augments:
            if aug is not None and not hasattr(aug, 'mix_with_provenance'):
                raise TypeError(
                    'ProvenanceMixBatchAugment: augment '
                    f'{type(aug).__name__} has no provenance; use '
                    'ProvenanceCutMix or ProvenanceResizeMix')
        self.last_mix = None

    def __call__(self, batch_input: torch.Tensor, batch_score: torch.Tensor):
        aug_index = np.random.choice(len(self.augments), p=self.probs)
        aug = self.augments[aug_index]
        self.last_mix = None
        if aug is None:
            return batch_input, batch_score.float()
        self.last_mix, scores = aug.mix_with_provenance(
            batch_input, batch_score.float())
        return self.last_mix.inputs, scores


@MODELS.register_module()
class ProvenanceMixBatchAugment(ClsDataPreprocessor):
    """Data preprocessor that mixes batches and records their provenance.

    Normalisation, padding, labels and mixing are mmpretrain's
    ``ClsDataPreprocessor`` with
    ``batch_augments=dict(augments=..., probs=...)`` (same seeds, same
    outputs). In training it also sets on every sample:

    - ``prov_mask``: ``(H, W)`` float at the final input size, 1 where the
      element comes from the sample's own label (paper Eq. 9): all ones when
      the sample was not mixed or its partner has the same label. A mask
      already set by the data pipeline (edited image, Eq. 10) is kept, and
      multiplied by the mixing mask when the sample is mixed.
    - ``mix_partner``: index in the batch of the other source (own index when
      the sample was not mixed).
    - ``gt_label_b``: the partner's ``gt_label``.
    - ``mix_lam``: weight of the own label in ``gt_score``, the mean of the
      mixing mask (1 when not mixed or mixed within the class).
    - ``gt_score``: the mixed soft label, as mmpretrain.

    Args:
        augments (list[dict]): ``ProvenanceCutMix`` / ``ProvenanceResizeMix``
            configs.
        probs (list[float], optional): probability of each augment; a sum
            below 1 leaves the rest of the batches unmixed. ``None`` chooses
            evenly. The list is copied, not modified.
        batch_augments (dict, optional): ``dict(augments=..., probs=...)``,
            the ``ClsDataPreprocessor`` spelling (set by ``ImageClassifier``
            from ``train_cfg``); give it or ``augments``, not both.
        mean, std, pad_size_divisor, pad_value, to_rgb, to_onehot,
        num_classes: as ``ClsDataPreprocessor``.
    """

    def __init__(self,
                 mean: Sequence[Number] = None,
                 std: Sequence[Number] = None,
                 pad_size_divisor: int = 1,
                 pad_value: Number = 0,
                 to_rgb: bool = False,
                 to_onehot: bool = False,
                 num_classes: Optional[int] = None,
                 augments: Optional[List[dict]] = None,
                 probs: Optional[List[float]] = None,
                 batch_augments: Optional[dict] = None):
        if augments is not None and batch_augments:
            raise ValueError('ProvenanceMixBatchAugment: give `augments` or '
                             '`batch_augments` (e.g. from train_cfg), not '
                             'both')
        if batch_augments:
            augments = batch_augments['augments']
            probs = batch_augments.get('probs', None)
        if augments is None:
            raise ValueError('ProvenanceMixBatchAugment: `augments` is '
                             "required, e.g. [dict(type='ProvenanceCutMix', "
                             'alpha=1.0)]')
        super().__init__(
            mean=mean,
            std=std,
            pad_size_divisor=pad_size_divisor,
            pad_value=pad_value,
            to_rgb=to_rgb,
            to_onehot=True,
            num_classes=num_classes,
            batch_augments=None)
        self.batch_augments = ProvenanceRandomBatchAugment(augments, probs)

    def forward(self, data: dict, training: bool = False) -> dict:
        self.batch_augments.last_mix = None
        data = super().forward(data, training)
        samples = data['data_samples']
        if training and samples and 'gt_label' in samples[0]:
            attach_provenance(data['inputs'], samples,
                              self.batch_augments.last_mix)
        return data


def with_pipeline_mask(sample, index: int,
                       mask: torch.Tensor) -> torch.Tensor:
    """``mask`` times the sample's ``prov_mask`` from the data pipeline (an
    edit's mask), if it has one of the final input size ``mask.shape``."""
    if 'prov_mask' not in sample:
        return mask
    own = torch.as_tensor(sample.prov_mask)
    if own.shape != mask.shape:
        raise ValueError(
            f'sample {index} ({sample.get("img_path", "?")}): '
            f'prov_mask from the data pipeline has shape '
            f'{tuple(own.shape)}, expected the final input size '
            f'(H, W) = {tuple(mask.shape)}')
    return own.to(mask.device, torch.float32) * mask


def attach_provenance(inputs: torch.Tensor, samples: List, mixed) -> None:
    """Set ``prov_mask``, ``mix_partner``, ``gt_label_b`` and ``mix_lam``.

    Args:
        inputs (Tensor): ``(B, C, H, W)`` final inputs.
        samples (list[DataSample]): the batch, modified in place.
        mixed (MixedBatch | None): provenance of the mix, ``None`` if unmixed.
    """
    height, width = inputs.shape[-2:]
    for index, sample in enumerate(samples):
        mask = torch.ones(height, width, device=inputs.device)
        partner, lam = index, 1.0
        if mixed is not None:
            partner = int(mixed.partner[index])
            # A partner of the same class leaves every element with the own
            # label (and mmpretrain's soft label one-hot): M = 1, lam = 1.
            if not torch.equal(samples[partner].gt_label, sample.gt_label):
                mask, lam = mixed.mask[index], float(mixed.lam[index])
        mask = with_pipeline_mask(sample, index, mask)
        sample.set_field(mask, 'prov_mask')
        sample.set_field(partner, 'mix_partner')
        sample.set_field(samples[partner].gt_label.clone(), 'gt_label_b')
        sample.set_field(lam, 'mix_lam')
