"""``DiffCoReMixPreprocessor``: DiffCoRe-Mix with generated counterparts, then
``ProvenanceMixBatchAugment``."""
from typing import List, Optional, Union

import numpy as np
import torch

from provmm.registry import BATCH_AUGMENTS, MODELS
from .provenance_mix_batch_augment import (ProvenanceMixBatchAugment,
                                           with_pipeline_mask)


@MODELS.register_module()
class DiffCoReMixPreprocessor(ProvenanceMixBatchAugment):
    """Mix real images with generated counterparts (DiffCoRe-Mix) and record
    their provenance for hard-label guidance (paper Eq. 10).

    The data pipeline puts a sample's generated counterpart into the data
    sample as ``gen_img``, a ``(C, H, W)`` tensor of the image's size and
    channel order (``LoadGeneratedCounterpart`` and
    ``PackInputs(algorithm_keys=('gen_img', ))``). In training, the samples
    with a counterpart are mixed by ``diffcore_mix`` (:class:`DiffCoReMix`)
    before normalisation (a convex combination commutes with the per-channel
    normalisation and the BGR -> RGB flip), and every sample gets:

    - ``prov_mask``: ``(H, W)``, 1 = real pixel: ``M_p`` for patch-wise
      mixes, all ones for pixel-wise mixes (no pixel is purely real or
      generated: nothing is penalised) and for unmixed samples. A mask from
      the data pipeline is multiplied in;
    - ``gen_mix``: ``'patch'``, ``'pixel'`` or ``'none'``;
    - ``real_share``: share of real content (``lam``, ``mean(M_p)``, or 1).

    Labels are unchanged (both images have the sample's class). The rest is
    :class:`ProvenanceMixBatchAugment`: normalisation, one-hot ``gt_score``,
    ``mix_partner`` (own index), ``gt_label_b`` (own label), ``mix_lam``
    (1: the own label's weight), and optional ``augments`` (CutMix,
    ResizeMix) applied afterwards across samples, whose masks multiply the
    DiffCoRe-Mix mask. ``gen_img`` is removed from the samples.

    Train with ``ProvenanceGradientLoss(mode='hard')`` (or ``'auto'``) to
    suppress reliance on generated content.

    Args:
        diffcore_mix (dict, optional): :class:`DiffCoReMix` config; None
            means ``dict(type='DiffCoReMix')`` (its defaults).
        augments (list[dict], optional): cross-sample augments of
            ``ProvenanceMixBatchAugment``; None = no cross-sample mixing.
        probs, batch_augments, mean, std, pad_size_divisor, pad_value,
        to_rgb, to_onehot, num_classes: as ``ProvenanceMixBatchAugment``.
    """

    def __init__(self,
                 diffcore_mix: Optional[dict] = None,
                 augments: Optional[List[dict]] = None,
                 probs: Optional[List[float]] = None,
                 batch_augments: Optional[dict] = None,
                 **kwargs):
        if augments is None and not batch_augments:
            augments, probs = [None], None  # never mix across samples
        super().__init__(augments=augments, probs=probs,
                         batch_augments=batch_augments, **kwargs)
        if diffcore_mix is None:
            diffcore_mix = dict(type='provmm.DiffCoReMix')
        if isinstance(diffcore_mix, dict):
            diffcore_mix = BATCH_AUGMENTS.build(diffcore_mix)
        self.diffcore_mix = diffcore_mix

    def forward(self, data: dict, training: bool = False) -> dict:
        samples = data.get('data_samples') or []
        generated = []
        for sample in samples:
            generated.append(sample.get('gen_img'))
            if 'gen_img' in sample:
                del sample.gen_img
        if training and samples and 'gt_label' in samples[0]:
            data = dict(data, inputs=self.mix_counterparts(
                data['inputs'], samples, generated))
        return super().forward(data, training)

    def mix_counterparts(self, inputs: Union[torch.Tensor, List],
                         samples: List, generated: List
                         ) -> Union[torch.Tensor, List]:
        """Mix the chosen samples' raw inputs with their ``gen_img``.

        Args:
            inputs: ``(B, C, H, W)`` tensor or list of ``(C, H, W)``.
            samples: the batch's data samples, given their fields here.
            generated: each sample's ``gen_img`` or None.

        Returns:
            The inputs with the chosen samples mixed (float where mixed).
        """
        inputs = self.cast_data(inputs)
        has_counterpart = np.array([g is not None for g in generated])
        chosen = self.diffcore_mix.choose(has_counterpart)
        for sample in samples:
            sample.set_field('none', 'gen_mix')
            sample.set_field(1.0, 'real_share')
        if len(chosen) == 0:
            return inputs

        real, counterparts = [], []
        for index in chosen.tolist():
            image = inputs[index]
            counterpart = self.cast_data(torch.as_tensor(generated[index]))
            if counterpart.shape != image.shape:
                raise ValueError(
                    f'sample {index} ({samples[index].get("img_path", "?")}): '
                    f'gen_img has shape {tuple(counterpart.shape)}, the image '
                    f'{tuple(image.shape)}; LoadGeneratedCounterpart must run '
                    'after the geometric transforms of the image')
            if real and image.shape != real[0].shape:
                raise ValueError(
                    'DiffCoReMixPreprocessor: images with a counterpart must '
                    f'share one size, got {tuple(real[0].shape)} and '
                    f'{tuple(image.shape)} (sample {index})')
            real.append(image.float())
            counterparts.append(counterpart.float())
        result = self.diffcore_mix(torch.stack(real),
                                   torch.stack(counterparts))

        if isinstance(inputs, torch.Tensor):
            inputs = inputs.to(torch.float32, copy=True)
            inputs[torch.as_tensor(chosen, device=inputs.device)] = \
                result.mixed
        else:
            inputs = list(inputs)
            for k, index in enumerate(chosen.tolist()):
                inputs[index] = result.mixed[k]
        for k, index in enumerate(chosen.tolist()):
            sample = samples[index]
            mask = with_pipeline_mask(sample, index,
                                      result.prov_mask[k].float())
            sample.set_field(mask, 'prov_mask')
            sample.set_field(
                'patch' if result.has_provenance[k] else 'pixel', 'gen_mix')
            sample.set_field(float(result.lam[k]), 'real_share')
        return inputs
