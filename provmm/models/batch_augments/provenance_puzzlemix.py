"""``ProvenancePuzzleMix``: PuzzleMix as an mmpretrain batch augment, with
provenance."""
import weakref
from typing import Sequence, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.models.utils.batch_augments import Mixup

from provmm.provenance.cutmix import MixedBatch
from provmm.provenance.puzzlemix import (BLOCK_NUMS, puzzlemix_saliency,
                                         random_puzzlemix)
from provmm.registry import BATCH_AUGMENTS, HOOKS


@BATCH_AUGMENTS.register_module()
class ProvenancePuzzleMix(Mixup):
    """PuzzleMix (Kim et al., ICML 2020) with the soft provenance mask of
    Eq. 9 (:mod:`provmm.provenance.puzzlemix`).

    ``lam ~ Beta(alpha, alpha)`` and the partners are drawn as mmpretrain's
    ``CutMix`` draws them, then the grid size from ``block_nums``. The block
    mask comes from the saliency of the un-mixed batch, PuzzleMix's
    ``sqrt(mean_c (d CE / d x)^2)``: one extra forward and one backward to
    the input (no weight gradients, no double backward) of the classifier in
    eval mode, as the authors' ImageNet code does. The classifier is given by
    :meth:`bind_model`, which :class:`PuzzleMixSaliencyHook` calls before
    training. :meth:`mix_with_provenance` returns the ``MixedBatch`` (``M``
    = A's share per pixel, in [0, 1]; ``lam = mean(M)`` per sample) and the
    soft scores ``lam * y + (1 - lam) * y[partner]``.

    Args:
        alpha (float): Beta parameter of ``lam``. Defaults to 1.0.
        n_labels (int): levels of the mask (3: 0, 0.5, 1).
        beta (float): label smoothness.
        gamma (float): data smoothness.
        eta (float): weight of the prior on ``lam``.
        neigh_size (int): pooling of the data smoothness term (the authors use
            4 for 32-pixel CIFAR and 2 for 224-pixel ImageNet).
        transport (bool): move blocks inside each source towards the kept
            blocks (the authors' default, True).
        t_eps (float): transport distance weight.
        block_nums (sequence[int]): grid sizes to draw from.
    """

    def __init__(self,
                 alpha: float = 1.0,
                 n_labels: int = 3,
                 beta: float = 1.2,
                 gamma: float = 0.5,
                 eta: float = 0.2,
                 neigh_size: int = 4,
                 transport: bool = True,
                 t_eps: float = 0.8,
                 block_nums: Sequence[int] = BLOCK_NUMS):
        super().__init__(alpha=alpha)
        self.options = dict(n_labels=n_labels, beta=beta, gamma=gamma,
                            eta=eta, neigh_size=neigh_size,
                            transport=transport, t_eps=t_eps)
        self.block_nums = tuple(block_nums)
        self._model = None

    def bind_model(self, model: torch.nn.Module) -> None:
        """Use ``model(x, mode='tensor')`` (logits) for the saliency and its
        data preprocessor's ``mean``/``std`` to map inputs back to [0, 1].

        A weak reference: the model owns this augment through its data
        preprocessor."""
        self._model = weakref.ref(model)

    def saliency_and_pixels(
            self, batch_inputs: torch.Tensor,
            batch_scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(B, H, W)`` saliency and ``(B, C, H, W)`` images in [0, 1]."""
        model = self._model() if self._model is not None else None
        if model is None:
            raise RuntimeError(
                'ProvenancePuzzleMix needs the classifier for its saliency: '
                "add dict(type='PuzzleMixSaliencyHook') to custom_hooks or "
                'call bind_model(model)')
        was_training = model.training
        model.eval()
        try:
            saliency = puzzlemix_saliency(
                lambda x: model(x, mode='tensor'), batch_inputs,
                batch_scores)
        finally:
            model.train(was_training)
        preprocessor = model.data_preprocessor
        pixels = batch_inputs.detach().float()
        if getattr(preprocessor, '_enable_normalize', False):
            pixels = pixels * preprocessor.std + preprocessor.mean
        return saliency, pixels / 255.

    def mix_with_provenance(
            self, batch_inputs: torch.Tensor, batch_scores: torch.Tensor
    ) -> Tuple[MixedBatch, torch.Tensor]:
        """Mix ``(B, C, H, W)`` inputs and ``(B, K)`` scores.

        Returns:
            tuple: the ``MixedBatch`` and the mixed ``(B, K)`` scores.
        """
        saliency, pixels = self.saliency_and_pixels(batch_inputs,
                                                    batch_scores)
        with torch.no_grad():
            mixed = random_puzzlemix(
                batch_inputs, saliency, self.alpha, self.block_nums,
                pixels=pixels, **self.options)
        lam = mixed.lam.to(batch_scores.device, torch.float32).view(-1, 1)
        scores = lam * batch_scores + (1 - lam) * batch_scores[mixed.partner]
        return mixed, scores

    def mix(self, batch_inputs: torch.Tensor,
            batch_scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mixed, scores = self.mix_with_provenance(batch_inputs, batch_scores)
        return mixed.inputs, scores


@HOOKS.register_module()
class PuzzleMixSaliencyHook(Hook):
    """Binds the trained classifier to every ``ProvenancePuzzleMix`` of its
    data preprocessor before training (:meth:`ProvenancePuzzleMix.bind_model`).
    """

    def before_train(self, runner) -> None:
        bind_puzzlemix_model(runner.model)


def bind_puzzlemix_model(model: torch.nn.Module) -> int:
    """Call ``bind_model`` on the ``ProvenancePuzzleMix`` augments of
    ``model``'s data preprocessor (a wrapped model is unwrapped); returns
    how many were bound."""
    if is_model_wrapper(model):
        model = model.module
    augments = getattr(
        getattr(model.data_preprocessor, 'batch_augments', None), 'augments',
        [])
    bound = 0
    for augment in augments:
        if isinstance(augment, ProvenancePuzzleMix):
            augment.bind_model(model)
            bound += 1
    return bound
