"""``ProvenanceMixBatchAugment``: ``ClsDataPreprocessor`` + mix provenance."""
import copy
import logging
from numbers import Number
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
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

    A drop-in for mmpretrain's ``ClsDataPreprocessor``: normalisation,
    padding, labels and mixing are its own, with
    ``batch_augments=dict(augments=..., probs=...)`` (same seeds, same
    outputs); without augments it does not mix (and keeps ``to_onehot`` as
    given). In training it completes the provenance contract
    (docs/provenance_contract.md) on every sample:

    - ``prov_mask``: ``(H, W)`` float at the final input size, 1 where the
      element comes from the sample's own label (paper Eq. 9). A mask set by
      the data pipeline (an edited image, Eq. 10) is kept (padded with ones
      where the batch is padded) and multiplied by the mixing mask when the
      sample is mixed; without one the sample's own mask is all ones.
    - ``guidance``: ``'soft'`` (mixed with a sample of another label:
      Eq. 9), ``'hard'`` (one label and a region that is not its own:
      Eq. 10) or ``'none'`` (nothing to penalise).
    - ``mix_partner``: index in the batch of the other source (own index
      when the sample was not mixed).
    - ``gt_label_b``: the partner's ``gt_label`` (own label when unmixed).
    - ``mix_lam``: weight of the own label in ``gt_score``, the mean of the
      mixing mask (1 when not mixed or mixed within the class).

    Args:
        augments (list[dict], optional): ``ProvenanceCutMix`` /
            ``ProvenanceResizeMix`` configs (``None`` entries: no mixing).
            ``None``: never mix.
        probs (list[float], optional): probability of each augment; a sum
            below 1 leaves the rest of the batches unmixed. ``None`` chooses
            evenly. The list is copied, not modified.
        batch_augments (dict, optional): ``dict(augments=..., probs=...)``,
            the ``ClsDataPreprocessor`` spelling (set by ``ImageClassifier``
            from ``train_cfg``); give it or ``augments``, not both.
        mean, std, pad_size_divisor, pad_value, to_rgb, to_onehot,
        num_classes: as ``ClsDataPreprocessor`` (mixing needs one-hot
        scores: with augments ``to_onehot`` is switched on, with
        mmpretrain's warning).
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
        super().__init__(
            mean=mean,
            std=std,
            pad_size_divisor=pad_size_divisor,
            pad_value=pad_value,
            to_rgb=to_rgb,
            to_onehot=to_onehot,
            num_classes=num_classes,
            batch_augments=None)
        if augments is not None:
            if not to_onehot:
                print_log(
                    'Because batch augmentations are enabled, the data '
                    'preprocessor automatically enables the `to_onehot` '
                    'option to generate one-hot format labels.',
                    logger='current', level=logging.WARNING)
            self.to_onehot = True
            self.batch_augments = ProvenanceRandomBatchAugment(
                augments, probs)

    def forward(self, data: dict, training: bool = False) -> dict:
        if self.batch_augments is not None:
            self.batch_augments.last_mix = None
        data = super().forward(data, training)
        samples = data['data_samples']
        if training and samples and 'gt_label' in samples[0]:
            mixed = (self.batch_augments.last_mix
                     if self.batch_augments is not None else None)
            attach_provenance(data['inputs'], samples, mixed)
        return data


def with_pipeline_mask(sample, index: int,
                       mask: torch.Tensor) -> torch.Tensor:
    """``mask`` times the sample's ``prov_mask`` from the data pipeline (an
    edit's mask; checked against its image by ``PackProvenanceInputs``),
    padded with ones to ``mask.shape`` as the batch pads its image."""
    if 'prov_mask' not in sample:
        return mask
    own = torch.as_tensor(sample.prov_mask).to(mask.device, torch.float32)
    pad_h, pad_w = mask.shape[0] - own.shape[0], mask.shape[1] - own.shape[1]
    if pad_h < 0 or pad_w < 0:
        raise ValueError(
            f'sample {index} ({sample.get("img_path", "?")}): prov_mask '
            f'{tuple(own.shape)} is larger than the batch input '
            f'{tuple(mask.shape)}')
    # Padded pixels come from no source: 1 leaves them unpenalised.
    return F.pad(own, (0, pad_w, 0, pad_h), value=1.) * mask


def attach_provenance(inputs: torch.Tensor, samples: List, mixed) -> None:
    """Write the provenance contract's fields on every sample.

    Args:
        inputs (Tensor): ``(B, C, H, W)`` final inputs.
        samples (list[DataSample]): the batch, modified in place.
        mixed (MixedBatch | None): provenance of the mix, ``None`` if unmixed.
    """
    height, width = inputs.shape[-2:]
    for index, sample in enumerate(samples):
        mask = torch.ones(height, width, device=inputs.device)
        partner, lam, guidance = index, 1.0, 'hard'
        if mixed is not None:
            partner = int(mixed.partner[index])
            # A partner of the same class leaves every element with the own
            # label (and mmpretrain's soft label one-hot): M = 1, lam = 1.
            if not torch.equal(samples[partner].gt_label, sample.gt_label):
                mask, lam = mixed.mask[index], float(mixed.lam[index])
                guidance = 'soft'
        mask = with_pipeline_mask(sample, index, mask)
        if guidance == 'hard' and bool((mask >= 1).all()):
            guidance = 'none'
        sample.set_field(mask, 'prov_mask')
        sample.set_field(guidance, 'guidance')
        sample.set_field(partner, 'mix_partner')
        sample.set_field(samples[partner].gt_label.clone(), 'gt_label_b')
        sample.set_field(lam, 'mix_lam')
