"""``ProvenanceImageClassifier``: ``L = L_cls + alpha * L_PG`` (paper Eq. 1)."""
import copy
from contextlib import ExitStack, contextmanager
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.classifiers import ImageClassifier

from provmm.ops.detached_batch_norm import detached_batch_statistics
from provmm.ops.double_backward import cheap_double_backward
from provmm.registry import MODELS


@MODELS.register_module()
class ProvenanceImageClassifier(ImageClassifier):
    """An ``ImageClassifier`` trained with provenance gradient guidance.

    ``loss()`` runs the network once on inputs with ``requires_grad=True``,
    takes the classification loss from the head's own ``loss`` on those
    logits and adds ``alpha * L_PG`` (Eq. 9 / Eq. 10) from
    ``provenance_loss``; the input gradients are taken from the same graph
    (double backprop). Losses come back separately as ``loss_cls`` and the
    provenance loss's key (``loss_pg``), plus its diagnostics (``pg_ratio``,
    ``pg_outside_share``, ``pg_alpha``; keys without "loss", so logged only).
    ``predict`` and ``forward(mode='tensor')`` are ``ImageClassifier``'s.
    On the iterations that the loss does not guide (its ``every_n_iters``)
    the step is a plain one: the inputs do not require gradients and no
    special forward mode is used. With the loss's
    ``bn_statistics='detached'`` the guided forward runs under
    :func:`~provmm.ops.detached_batch_norm.detached_batch_statistics`:
    the input gradients see the batch statistics as constants, the final
    backward pass (``loss_cls`` through the network) keeps them.
    All training logic is in ``loss()`` because
    ``MMDistributedDataParallel`` does not call the model's ``train_step``.

    Works with any registered backbone, neck and head whose ``loss`` runs the
    head's ``forward`` once (every mmpretrain classification head); a head
    returning a tuple of scores (Conformer) is guided on their sum, as its
    ``predict`` does. Attention runs on the math SDPA kernel during the
    guided forward (fused kernels have no double backward). Convolutions,
    batch norms and ReLUs of the guided forward run through
    :func:`~provmm.ops.double_backward.cheap_double_backward`: the
    same gradients from fewer, faster kernels. SyncBN,
    activation checkpointing (``with_cp``) and ``torch.compile`` cannot
    double-backprop and are refused with an error.

    Args:
        backbone, neck, head, pretrained, train_cfg, data_preprocessor,
        init_cfg: as :class:`mmpretrain.models.ImageClassifier`.
        provenance_loss (dict | nn.Module, optional): config of
            :class:`ProvenanceGradientLoss`. ``None`` gives plain
            ``ImageClassifier`` training (one forward, key ``loss``).
        cheap_double_backward (bool): run the guided forward under
            ``cheap_double_backward`` (default); ``False`` uses PyTorch's own
            double backward (same gradients, slower).
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 provenance_loss: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 cheap_double_backward: bool = True):
        # Built here with provmm's registry (mmpretrain's would not find
        # provmm modules outside default_scope='provmm').
        if data_preprocessor is None or isinstance(data_preprocessor, dict):
            data_preprocessor = copy.deepcopy(data_preprocessor or {})
            # Guidance needs the provenance fields that only provmm's
            # preprocessor writes; without augments it is ClsDataPreprocessor.
            # (scoped: the default scope may be another project's).
            data_preprocessor.setdefault(
                'type', 'mmpretrain.ClsDataPreprocessor'
                if provenance_loss is None else
                'provmm.ProvenanceMixBatchAugment')
            data_preprocessor.setdefault('batch_augments', train_cfg)
        backbone, neck, head, data_preprocessor = (
            MODELS.build(cfg) if isinstance(cfg, dict) else cfg
            for cfg in (backbone, neck, head, data_preprocessor))
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if provenance_loss is not None and not isinstance(
                provenance_loss, nn.Module):
            provenance_loss = MODELS.build(provenance_loss)
        self.provenance_loss = provenance_loss
        self.cheap_double_backward = cheap_double_backward

    @property
    def with_provenance_loss(self) -> bool:
        return self.provenance_loss is not None

    def loss(self, inputs: torch.Tensor,
             data_samples: List) -> Dict[str, torch.Tensor]:
        """``loss_cls`` and ``alpha * L_PG`` from one forward pass.

        Args:
            inputs (Tensor): ``(B, C, H, W)``.
            data_samples (list[DataSample]): with the provenance fields set
                by ``ProvenanceMixBatchAugment`` or the dataset.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_pg`` and diagnostics.
        """
        if not self.with_provenance_loss:
            return super().loss(inputs, data_samples)
        # every_n_iters: a plain step, no input-gradient graph at all.
        guided_iteration = self.provenance_loss.guides_this_iteration()
        if guided_iteration:
            check_double_backprop(self)
            inputs = inputs.detach().requires_grad_(True)
        with ExitStack() as stack:
            modes = []
            if guided_iteration:
                stack.enter_context(math_attention())
                modes = stack.enter_context(self.guided_forward(inputs))
            feats = self.extract_feat(inputs)
            head_losses, logits = self.head_loss_and_logits(
                feats, data_samples)
        losses = {('loss_cls' if key == 'loss' else key): value
                  for key, value in head_losses.items()}
        losses.update(
            self.provenance_loss(inputs, logits, data_samples,
                                 losses.get('loss_cls')))
        for mode in modes:
            mode.input_gradients_taken()
        return losses

    @contextmanager
    def guided_forward(self, inputs: torch.Tensor):
        """The forward pass's modes (yielded as a list, to be told when the
        input gradients are taken): cheap double backward and, with the
        loss's ``bn_statistics='detached'``, batch norms with detached batch
        statistics (the inner mode)."""
        with ExitStack() as stack:
            modes = []
            if self.cheap_double_backward:
                modes.append(
                    stack.enter_context(cheap_double_backward(inputs)))
            if self.provenance_loss.bn_statistics == 'detached':
                modes.append(
                    stack.enter_context(detached_batch_statistics(self)))
            yield modes

    def head_loss_and_logits(
            self, feats, data_samples: List
    ) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """The head's own losses and the ``(B, K)`` logits they were made of.

        The logits are captured from the head's ``forward`` inside its
        ``loss`` so the network runs once and every head keeps its own loss
        logic (label smoothing, margins, ...).
        """
        captured = []
        handle = self.head.register_forward_hook(
            lambda module, args, output: captured.append(output))
        try:
            losses = self.head.loss(feats, data_samples)
        finally:
            handle.remove()
        if len(captured) != 1:
            raise RuntimeError(
                f'ProvenanceImageClassifier: {type(self.head).__name__}.loss '
                f'ran the head forward {len(captured)} times; one is needed '
                'to reuse its logits for the provenance gradient loss')
        logits = captured[0]
        if isinstance(logits, (tuple, list)):
            logits = sum(logits)
        return losses, logits


@contextmanager
def math_attention():
    """Force the math scaled-dot-product-attention kernel (double backward)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(SDPBackend.MATH):
        yield


def check_double_backprop(model: nn.Module) -> None:
    """Raise a ``RuntimeError`` for settings that cannot double-backprop."""
    if torch.compiler.is_compiling() or any(
            name in vars(model) for name in ('train_step', 'forward', 'loss')):
        raise RuntimeError(
            'ProvenanceImageClassifier: torch.compile cannot differentiate '
            'through input gradients (double backprop); remove `compile` '
            'from the config')
    for name, module in model.named_modules():
        if isinstance(module, nn.SyncBatchNorm) or 'SyncBatchNorm' in type(
                module).__name__ or 'SyncBN' in type(module).__name__:
            raise RuntimeError(
                f'ProvenanceImageClassifier: {name} is {type(module).__name__}'
                '; SyncBN cannot double-backprop. Use BN (norm_cfg=dict('
                "type='BN')) and remove `sync_bn` from the config")
        if getattr(module, 'with_cp', False):
            raise RuntimeError(
                f'ProvenanceImageClassifier: {name} has with_cp=True; '
                'activation checkpointing cannot double-backprop. Set '
                'with_cp=False in the backbone config')
        if type(module).__name__ == 'OptimizedModule':
            raise RuntimeError(
                f'ProvenanceImageClassifier: {name} is torch.compile-d; '
                'compiled modules cannot double-backprop')
