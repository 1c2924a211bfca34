"""``ProvenanceGradientLoss``: alpha * L_PG (paper Eq. 9 / 10) on samples."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from provmm.provenance.alpha_controller import RatioTrackingAlpha
from provmm.provenance.gradient_loss import (TARGETS, guided_subset,
                                             outside_provenance_share,
                                             penalised_samples,
                                             provenance_gradient_penalty,
                                             provenance_input_gradients)
from provmm.provenance.control_masks import (random_pixel_mask, shifted_mask,
                                             unmasked_mask)
from provmm.registry import MODELS

MODES = ('soft', 'hard', 'auto')
MASK_MODES = ('provenance', 'random', 'unmasked', 'shifted')
BN_STATISTICS = ('batch', 'detached')
# Written by the data preprocessor (docs/provenance_contract.md).
CONTRACT_FIELDS = ('prov_mask', 'guidance', 'gt_label_b')


@MODELS.register_module()
class ProvenanceGradientLoss(nn.Module):
    """alpha * L_PG of ``L_total = L_cls + alpha * L_PG`` (paper Eq. 1, with
    L_PG of Eq. 9 / Eq. 10).

    Reads the provenance fields that the data preprocessor writes on every
    training sample (docs/provenance_contract.md): ``gt_label`` (A),
    ``prov_mask`` (``(H, W)``, 1 = from A), ``gt_label_b`` (B) and
    ``guidance`` (``'soft'``: Eq. 9, ``'hard'``: Eq. 10, ``'none'``: nothing
    to penalise). A batch without them stops with an error that names the
    preprocessor to use.

    Args:
        loss_weight (float | str): alpha. Defaults to 0.05 (Table 8, CUB
            WSOL). ``'auto'``: alpha is adapted online so that
            ``alpha * L_PG / L_cls`` tracks ``target_ratio``
            (:mod:`provmm.provenance.alpha_controller`; not in the paper).
        mode (str): ``'auto'``: each sample as its ``guidance`` flag says;
            ``'soft'``: only the Eq. 9 samples; ``'hard'``: Eq. 10 with the
            own label and mask for every sample. Defaults to ``'auto'``.
        mask_mode (str): ``'provenance'`` (the paper), or the Table 6
            controls ``'random'`` (per-pixel Bernoulli with the same
            per-sample mean) and ``'unmasked'`` (``|| grad_x f_A ||^2`` over
            the whole input of every sample with synthetic content; samples
            without any are left alone in every mode), and ``'shifted'``
            (the true mask rolled by half the image: right shape, wrong
            place; not in the paper). Defaults to ``'provenance'``.
        target (str): ``'logit'`` (paper), ``'log_softmax'`` or ``'margin'``;
            see :mod:`provmm.provenance.gradient_loss`.
        normalize (bool): penalise the *share* of input-gradient energy in
            foreign regions (in [0, 1], invariant to the gradients' scale)
            instead of its squared norm. Not in the paper; an option for
            tasks where shrinking all input gradients is an easy way out
            (see :mod:`provmm.provenance.gradient_loss`). Defaults to False.
        warmup_iters (int): alpha grows linearly from 0 to ``loss_weight``
            (or the adapted alpha) over this many iterations (read from
            MessageHub's ``iter`` runtime info); 0 disables the warm-up.
            While alpha is 0 only the diagnostics are computed (one input
            gradient, no double backprop), so ``loss_weight=0`` logs
            ``pg_outside_share`` for a plain CutMix baseline.
        loss_name (str): key of the loss in the returned dict; must contain
            ``'loss'`` so that ``BaseModel.parse_losses`` sums it.
        every_n_iters (int): guide only the iterations ``i`` with
            ``i % every_n_iters == 0`` (MessageHub's ``iter``); the others
            are plain steps: :meth:`guides_this_iteration` tells the
            classifier to build no input-gradient graph, and the loss is a
            constant 0 without diagnostics. Defaults to 1 (every iteration).
        scale_by_interval (bool): with ``every_n_iters = k``, multiply alpha
            by ``k`` on the guided iterations so that the penalty's gradient
            per iteration keeps its mean (alpha keeps its meaning; with
            momentum SGD the ``k`` times larger kick is spread over about
            ``1 / (1 - momentum)`` iterations). ``False``: alpha as given,
            an effective ``alpha / k``. Defaults to False: on the synthetic
            fingerprint task the k-times penalty on every k-th step lost
            accuracy where the unscaled one kept full guidance's effect
            (docs/method.md).
        subset_ratio (float): penalise a uniformly random share, in (0, 1],
            of the samples that have something to penalise (at least one),
            weighted by ``|P| / |S|`` so the loss is an unbiased estimate of
            the full batch mean (:func:`~provmm.provenance.gradient_loss.
            guided_subset`). The forward pass stays one pass over the whole
            batch (BatchNorm statistics unchanged). Defaults to 1.0.
        bn_statistics (str): ``'batch'``: BatchNorm in train mode couples
            the samples of the guided forward (PyTorch's behaviour);
            ``'detached'``: the classifier runs the guided forward with the
            batch mean and variance treated as constants
            (:mod:`provmm.ops.detached_batch_norm`) while the input
            gradients are taken, so each sample's input gradient is its
            own; the final backward pass keeps the statistics, so the
            classification loss's gradient is exact. Defaults to
            ``'batch'``.
        target_ratio (float, optional): rho of ``loss_weight='auto'``.
            Defaults to None: chosen from the first guided batch, 0.03 if it
            holds mixed samples (two labels, Eq. 9: CutMix, ResizeMix,
            PuzzleMix, BatchMix), else 0.2 (edited samples, Eq. 10). Each
            is within one standard deviation of the searched alpha on the
            built-in benchmarks of its kind; either one on the other kind
            lost 11-19 points (mixing) or collapsed 3 of 5 seeds (edits)
            (docs/method.md, "Which rho"). Logged as ``pg_target_ratio``.
        ratio_momentum (float): beta of the moving averages of
            ``loss_weight='auto'``. Defaults to 0.99.
        alpha_min, alpha_max (float): bounds of the adapted alpha. Default
            to 0 and 1000.
        ratio_update_iters (int, optional): with ``loss_weight='auto'``,
            adapt alpha during the first ``ratio_update_iters`` guided
            iterations only, then hold it (None: adapt throughout, a
            feedback loop that can run alpha up to ``alpha_max``; see
            :mod:`provmm.provenance.alpha_controller`). Defaults to 50.

    Returns (``forward``): ``{loss_name: alpha * L_PG, 'pg_ratio':
    alpha * L_PG / L_cls, 'pg_outside_share': share of |grad_x f_A|^2 outside
    the true provenance region, 'pg_alpha': current alpha}``; only the first
    key contains ``'loss'``. ``pg_alpha`` is alpha before the
    ``every_n_iters`` factor; iterations that are not guided return only
    the zero loss, ``pg_alpha`` and ``pg_ratio`` (0).
    """

    def __init__(self,
                 loss_weight: Union[float, str] = 0.05,
                 mode: str = 'auto',
                 mask_mode: str = 'provenance',
                 target: str = 'logit',
                 normalize: bool = False,
                 warmup_iters: int = 0,
                 loss_name: str = 'loss_pg',
                 every_n_iters: int = 1,
                 scale_by_interval: bool = False,
                 subset_ratio: float = 1.0,
                 bn_statistics: str = 'batch',
                 target_ratio: Optional[float] = None,
                 ratio_momentum: float = 0.99,
                 alpha_min: float = 0.0,
                 alpha_max: float = 1000.0,
                 ratio_update_iters: Optional[int] = 50):
        super().__init__()
        for name, value, choices in (('mode', mode, MODES),
                                     ('mask_mode', mask_mode, MASK_MODES),
                                     ('target', target, TARGETS),
                                     ('bn_statistics', bn_statistics,
                                      BN_STATISTICS)):
            if value not in choices:
                raise ValueError(f'ProvenanceGradientLoss: {name} must be one '
                                 f'of {choices}, got {value!r}')
        auto = loss_weight == 'auto'
        if isinstance(loss_weight, str) and not auto:
            raise ValueError('ProvenanceGradientLoss: loss_weight must be a '
                             f"number >= 0 or 'auto', got {loss_weight!r}")
        if (not auto and loss_weight < 0) or warmup_iters < 0:
            raise ValueError('ProvenanceGradientLoss: loss_weight and '
                             'warmup_iters must be >= 0, got '
                             f'{loss_weight} and {warmup_iters}')
        if 'loss' not in loss_name:
            raise ValueError('ProvenanceGradientLoss: loss_name must contain '
                             f'"loss" to be optimised, got {loss_name!r}')
        if not isinstance(every_n_iters, int) or every_n_iters < 1:
            raise ValueError('ProvenanceGradientLoss: every_n_iters must be '
                             f'an integer >= 1, got {every_n_iters!r}')
        if not 0 < subset_ratio <= 1:
            raise ValueError('ProvenanceGradientLoss: subset_ratio must be in '
                             f'(0, 1], got {subset_ratio}')
        if (target_ratio is not None and target_ratio <= 0) or not (
                0 <= ratio_momentum < 1) or not (
                0 <= alpha_min <= alpha_max):
            raise ValueError(
                'ProvenanceGradientLoss: need target_ratio None or > 0, 0 <= '
                'ratio_momentum < 1 and 0 <= alpha_min <= alpha_max, got '
                f'{target_ratio}, {ratio_momentum}, {alpha_min} and '
                f'{alpha_max}')
        self.loss_weight = loss_weight
        self.mode = mode
        self.mask_mode = mask_mode
        self.target = target
        self.normalize = normalize
        self.warmup_iters = warmup_iters
        self.loss_name = loss_name
        self.every_n_iters = every_n_iters
        self.scale_by_interval = scale_by_interval
        self.subset_ratio = subset_ratio
        self.bn_statistics = bn_statistics
        # Buffers: the adapted alpha is saved in checkpoints and resumed.
        self.alpha_controller = RatioTrackingAlpha(
            target_ratio, ratio_momentum, alpha_min, alpha_max,
            ratio_update_iters) if auto else None

    @staticmethod
    def current_iter() -> int:
        """The training iteration (MessageHub's ``iter`` runtime info)."""
        return MessageHub.get_current_instance().get_info('iter', 0)

    def warmup_factor(self) -> float:
        """The linear warm-up's factor of alpha, in [0, 1]."""
        if self.warmup_iters == 0:
            return 1.0
        return min(1.0, self.current_iter() / self.warmup_iters)

    def current_weight(self) -> float:
        """alpha at the current iteration (linear warm-up; with
        ``loss_weight='auto'`` the last adapted alpha, 0 before the first)."""
        if self.alpha_controller is not None:
            return float(self.alpha_controller.alpha) * self.warmup_factor()
        return self.loss_weight * self.warmup_factor()

    def guides_this_iteration(self) -> bool:
        """Whether this iteration is guided (``every_n_iters``); when not,
        the caller needs no input gradients and no double backprop."""
        return self.current_iter() % self.every_n_iters == 0

    def forward(self,
                inputs: torch.Tensor,
                logits: torch.Tensor,
                data_samples: List,
                loss_cls: Optional[torch.Tensor] = None
                ) -> Dict[str, torch.Tensor]:
        """Compute alpha * L_PG and its diagnostics.

        Args:
            inputs (Tensor): ``(B, C, H, W)`` with ``requires_grad=True`` (on
                guided iterations).
            logits (Tensor): ``(B, K)`` computed from ``inputs``.
            data_samples (list[DataSample]): the batch's samples, with the
                provenance fields (docs/provenance_contract.md).
            loss_cls (Tensor, optional): classification loss for
                ``pg_ratio``; required with ``loss_weight='auto'``.
        """
        if self.alpha_controller is not None and loss_cls is None:
            raise ValueError("ProvenanceGradientLoss: loss_weight='auto' "
                             'needs loss_cls to adapt alpha')
        zero = logits.new_zeros((), dtype=torch.float32)
        if not self.guides_this_iteration():
            return self.outputs(zero, self.current_weight(), loss_cls)
        factor = self.warmup_factor()
        mask, label_a, label_b, soft = self.provenance_targets(
            inputs, data_samples)
        penalty_mask = self.penalty_mask(mask, soft)
        if self.mask_mode == 'unmasked':
            soft = None  # the whole gradient of f_A, Eq. 10 style

        # alpha = 0 (warm-up start, a baseline that only logs the diagnostic)
        # or nothing to penalise (an unmixed batch of unedited images): no
        # double backprop, one plain input gradient for the diagnostic.
        penalised = penalised_samples(penalty_mask, soft)
        guided = factor != 0 and self.loss_weight != 0 and bool(
            penalised.any())
        subset_weight = 1.0
        if guided and self.subset_ratio < 1:
            chosen, subset_weight = guided_subset(penalised,
                                                  self.subset_ratio)
            penalty_mask = torch.where(
                chosen.view(-1, *([1] * (mask.dim() - 1))), penalty_mask,
                torch.ones_like(penalty_mask))
            soft = None if soft is None else soft & chosen
        # grad_x f_B only for Eq. 9 samples ('hard' and 'unmasked': none)
        two_sources = guided and soft is not None
        grad_a, grad_b = provenance_input_gradients(
            inputs, logits, label_a, label_b if two_sources else None,
            self.target, create_graph=guided,
            soft=soft if two_sources else None)
        alpha = self.current_weight()
        loss_pg = zero
        if guided:
            penalty = subset_weight * provenance_gradient_penalty(
                grad_a, grad_b, penalty_mask, soft, self.normalize)
            if self.alpha_controller is not None:
                if self.alpha_controller.target_ratio is None:
                    self.alpha_controller.set_default_target_ratio(
                        mixed=any(s.guidance == 'soft' for s in data_samples))
                alpha = factor * self.alpha_controller.update(
                    loss_cls, penalty).to(penalty.dtype)
            interval = self.every_n_iters if self.scale_by_interval else 1
            loss_pg = (alpha * interval) * penalty
        outputs = self.outputs(loss_pg, alpha, loss_cls)
        outputs['pg_outside_share'] = outside_provenance_share(grad_a, mask)
        return outputs

    def outputs(self, loss_pg: torch.Tensor,
                alpha: Union[float, torch.Tensor],
                loss_cls: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The loss, ``pg_alpha``, (with ``loss_cls``) ``pg_ratio`` and
        (with ``loss_weight='auto'``, once set) ``pg_target_ratio``."""
        outputs = {self.loss_name: loss_pg,
                   'pg_alpha': torch.as_tensor(alpha).detach().to(
                       loss_pg.device, torch.float32)}
        controller = self.alpha_controller
        if controller is not None and controller.target_ratio is not None:
            outputs['pg_target_ratio'] = controller.target.to(
                loss_pg.device, torch.float32)
        if loss_cls is not None:
            outputs['pg_ratio'] = (loss_pg.detach() /
                                   loss_cls.detach().float().clamp(min=1e-12))
        return outputs

    def provenance_targets(
        self, inputs: torch.Tensor, data_samples: List
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor,
               Optional[torch.Tensor]]:
        """Stack ``(M (B, H, W), label_a (B,), label_b (B,), soft (B,) bool
        or None)`` from the samples' provenance fields; ``soft`` follows the
        samples' ``guidance`` flags, ``None`` in ``'hard'`` mode."""
        if len(data_samples) != inputs.shape[0]:
            raise ValueError(f'ProvenanceGradientLoss: {len(data_samples)} '
                             f'data samples for a batch of {inputs.shape[0]}')
        missing = [key for key in CONTRACT_FIELDS
                   if data_samples and key not in data_samples[0]]
        if missing:
            raise ValueError(
                'ProvenanceGradientLoss: the batch carries no provenance '
                f'(data samples lack {missing}). Use the data preprocessor '
                "dict(type='provmm.ProvenanceMixBatchAugment', augments=["
                "dict(type='provmm.ProvenanceCutMix', alpha=1.0)]) (or "
                'provmm.ProvenanceResizeMix / DiffCoReMixPreprocessor) '
                'instead of ClsDataPreprocessor with mmpretrain\'s CutMix: '
                'only these record where each pixel comes from')
        device = inputs.device
        mask = torch.stack([s.prov_mask for s in data_samples]).to(
            device, torch.float32)
        label_a = torch.cat([s.gt_label.view(-1)[:1] for s in data_samples])
        label_b = torch.cat([s.gt_label_b.view(-1)[:1]
                             for s in data_samples])
        soft = torch.tensor([s.guidance == 'soft' for s in data_samples],
                            device=device)
        return (mask, label_a.to(device), label_b.to(device),
                None if self.mode == 'hard' else soft)

    def penalty_mask(self, mask: torch.Tensor,
                     soft: Optional[torch.Tensor]) -> torch.Tensor:
        """The mask the penalty uses: the true one or a Table 6 control;
        in ``'soft'`` mode the samples that are not ``soft`` get ``M = 1``
        (no term)."""
        if self.mode == 'soft':
            mask = torch.where(soft.view(-1, *([1] * (mask.dim() - 1))),
                               mask, torch.ones_like(mask))
        if self.mask_mode == 'random':
            return random_pixel_mask(mask)
        if self.mask_mode == 'unmasked':
            return unmasked_mask(mask)
        if self.mask_mode == 'shifted':
            return shifted_mask(mask)
        return mask

