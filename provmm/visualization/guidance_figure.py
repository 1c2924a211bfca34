"""Guided Grad-CAM of mixed and edited training images next to their
provenance mask (paper Fig. 3): where a plain and a guided classifier look
for each label of a CutMix image, or for the label of an edited image.

Attribution maps (all of one class score ``z_c``, the pre-softmax logit):

- Grad-CAM (Selvaraju et al. 2017) on the target layer's feature map,
  upsampled bilinearly to the input: ``G_c``, ``(H, W)``;
- guided backprop (Springenberg et al. 2015): ``dz_c/dx`` with every ReLU
  passing back only positive gradients through positive inputs,
  ``(C, H, W)``;
- Guided Grad-CAM = guided backprop ⊙ ``G_c``;
- the plain input gradient ``dz_c/dx``, what ``L_PG`` (Eq. 9-10) penalises
  outside the class's region.

Panels show the per-pixel L2 norm over channels of the last two, min-max
normalised per panel, with the boundary of a mix's M drawn on them; each
title gives the share of the map's energy outside the class's own region
(``M`` for A, ``1 - M`` for B), which ``L_PG`` pushes towards zero.

Grad-CAM is provmm's :func:`~provmm.models.localization.grad_cam.grad_cam`;
guided backprop is the hook below rather than the ``grad-cam`` package's
``GuidedBackpropReLUModel``, which backprops only the first image of a batch
and swaps the model's ReLU modules (and importing ``pytorch_grad_cam`` needs
scikit-learn, scipy, ttach and a second OpenCV distribution).
"""
import copy
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint, set_random_seed

from provmm.data_prep.output_files import atomic_path
from provmm.evaluation.functional import normalize_scoremap
from provmm.models.data_preprocessors.provenance_mix_batch_augment import \
    attach_provenance
from provmm.models.localization.grad_cam import grad_cam
from provmm.provenance import outside_provenance_share
from provmm.registry import DATASETS, MODELS

# One panel is PANEL_PX square under a TITLE_PX band; cells are CELL_PX.
PANEL_PX = 144
TITLE_PX = 40
PAD_PX = 6
CELL_PX = (PANEL_PX + PAD_PX, PANEL_PX + TITLE_PX + PAD_PX)  # (w, h)
DPI = 100
MAPS = (('guided_grad_cam', 'Guided Grad-CAM'), ('input_grad',
                                                 '|input grad|'))


class GuidedReLU(torch.autograd.Function):
    """ReLU backpropagating ``[x > 0] * max(g, 0)`` (guided backprop)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x > 0)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (positive, ) = ctx.saved_tensors
        return grad.clamp(min=0) * positive


@contextmanager
def guided_relus(model: nn.Module):
    """Every ``nn.ReLU`` module of ``model`` backpropagates as
    :class:`GuidedReLU` inside the block.

    A forward hook applies :class:`GuidedReLU` to each ReLU's output: ReLU is
    idempotent, so the forward values stay, in-place ReLUs work (the mask of
    ``relu(x) > 0`` is the one of ``x > 0``) and the model is left as it was.
    ``F.relu`` calls are not seen, hence the refusal of a model without ReLU
    modules.
    """
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise TypeError('guided backprop needs nn.ReLU modules; '
                        f'{type(model).__name__} has none')
    handles = [
        relu.register_forward_hook(
            lambda module, args, out: GuidedReLU.apply(out))
        for relu in relus
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def class_scores(classifier: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` pre-softmax scores of ``classifier(inputs, mode='tensor')``
    (an mmpretrain classifier; a tuple of scores is summed, as Conformer's
    ``predict`` does)."""
    scores = classifier(inputs, mode='tensor')
    if isinstance(scores, (tuple, list)):
        scores = sum(scores)
    if scores.dim() != 2 or scores.shape[0] != inputs.shape[0]:
        raise ValueError(f'{type(classifier).__name__} gave scores of shape '
                         f'{tuple(scores.shape)}, expected (B, num_classes) '
                         f'with B = {inputs.shape[0]}')
    return scores


def attribution_maps(
        classifier: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
        target_layer: str = 'backbone') -> Dict[str, torch.Tensor]:
    """Grad-CAM, guided backprop, Guided Grad-CAM and the input gradient of
    the score of ``labels`` for every image.

    Runs the classifier in its current mode: call ``eval()`` first so that
    the images of the batch do not interact through batch statistics.

    Args:
        classifier: an mmpretrain classifier.
        inputs: ``(B, C, H, W)`` preprocessed images.
        labels: ``(B,)`` class of each image.
        target_layer: the module whose output Grad-CAM weighs, by name
            (``classifier.get_submodule``); a tuple output (a backbone's
            feature maps) gives its last map.

    Returns:
        ``grad_cam`` ``(B, H, W)``; ``guided_backprop``, ``guided_grad_cam``
        and ``input_grad`` ``(B, C, H, W)``; all detached.
    """
    if inputs.dim() != 4 or labels.shape != inputs.shape[:1]:
        raise ValueError('inputs must be (B, C, H, W) and labels (B,), got '
                         f'{tuple(inputs.shape)} and {tuple(labels.shape)}')
    labels = labels.to(inputs.device).long()[:, None]
    try:
        layer = classifier.get_submodule(target_layer)
    except AttributeError:
        raise ValueError(f'target layer {target_layer!r} is not a module of '
                         f'{type(classifier).__name__} (e.g. "backbone" or '
                         '"backbone.layer4")') from None
    captured = []
    handle = layer.register_forward_hook(
        lambda module, args, out: captured.append(
            out[-1] if isinstance(out, (tuple, list)) else out))
    try:
        with torch.enable_grad():
            x = inputs.detach().requires_grad_(True)
            score = class_scores(classifier, x).gather(1, labels).sum()
    finally:
        handle.remove()
    if len(captured) != 1 or captured[0].dim() != 4:
        raise ValueError(f'target layer {target_layer!r} must run once and '
                         'give a (B, C, h, w) feature map')
    feature = captured[0]
    feature_grad, input_grad = torch.autograd.grad(score, (feature, x))
    cam = grad_cam(feature.detach(), feature_grad)
    cam = F.interpolate(cam[:, None], size=x.shape[-2:], mode='bilinear',
                        align_corners=False)[:, 0]
    with torch.enable_grad(), guided_relus(classifier):
        x = inputs.detach().requires_grad_(True)
        score = class_scores(classifier, x).gather(1, labels).sum()
        (guided, ) = torch.autograd.grad(score, x)
    return dict(grad_cam=cam, guided_backprop=guided,
                guided_grad_cam=guided * cam[:, None], input_grad=input_grad)


@dataclass
class GuidanceSample:
    """One training image as the model sees it, with its provenance.

    ``inputs`` ``(C, H, W)`` preprocessed; ``image`` ``(H, W, 3)`` uint8 RGB
    for display; ``mask`` ``(H, W)`` M; ``label_b`` is ``None`` unless
    ``guidance == 'soft'`` (a mix of two classes).
    """
    inputs: torch.Tensor
    image: np.ndarray
    mask: torch.Tensor
    guidance: str
    label_a: int
    label_b: Optional[int]
    lam: float


def display_image(inputs: torch.Tensor, preprocessor) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of one preprocessed ``(C, H, W)`` image
    (the preprocessor's normalisation undone)."""
    x = inputs.detach().float().cpu()
    if getattr(preprocessor, '_enable_normalize', False):
        x = x * preprocessor.std.cpu() + preprocessor.mean.cpu()
    if x.shape[0] != 3:
        x = x.mean(0, keepdim=True).expand(3, -1, -1)
    elif not getattr(preprocessor, 'to_rgb', True):
        x = x.flip(0)  # BGR as loaded
    return x.clamp(0, 255).round().byte().permute(1, 2, 0).numpy()


def training_samples(dataset, batch_size: int, preprocessor,
                     num_images: int, seed: int = 0,
                     max_batches: int = 20) -> List[GuidanceSample]:
    """``num_images`` training images built as in training: the train
    dataset with its pipeline, batches of the train batch size, the data
    preprocessor in training mode (the mix and its provenance fields).

    Images with something to guide (``guidance`` ``'soft'`` or ``'hard'``)
    come first, taken from up to ``max_batches`` batches of a random order
    drawn with ``seed``, one per batch as long as there are batches left;
    unguided ones fill up the rest. A preprocessor without provenance fields
    (mmpretrain's ``ClsDataPreprocessor`` of an unguided config) gets the
    fields of an unmixed batch, as ``ProvenanceMixBatchAugment`` writes them,
    so that the pipeline's edit masks show.
    """
    set_random_seed(seed)
    order = np.random.permutation(len(dataset))
    # one guided image per batch first: mmpretrain's CutMix draws one box
    # per batch, so this shows different boxes
    firsts, other_guided, unguided = [], [], []
    for start in range(0, min(len(order), max_batches * batch_size),
                       batch_size):
        batch = pseudo_collate(
            [dataset[int(i)] for i in order[start:start + batch_size]])
        data = preprocessor(batch, training=True)
        inputs, samples = data['inputs'], data['data_samples']
        if 'guidance' not in samples[0]:
            if getattr(preprocessor, 'batch_augments', None) is not None:
                raise TypeError(
                    f'{type(preprocessor).__name__} mixes images without '
                    'recording their provenance: use '
                    "data_preprocessor=dict(type='ProvenanceMixBatchAugment'"
                    ', ...)')
            attach_provenance(inputs, samples, None)
        guided = []
        for x, sample in zip(inputs, samples):
            soft = sample.guidance == 'soft'
            item = GuidanceSample(
                inputs=x, image=display_image(x, preprocessor),
                mask=sample.prov_mask.float().cpu(), guidance=sample.guidance,
                label_a=int(sample.gt_label.reshape(-1)[0]),
                label_b=int(sample.gt_label_b.reshape(-1)[0]) if soft else
                None, lam=float(sample.mix_lam))
            (unguided if item.guidance == 'none' else guided).append(item)
        firsts += guided[:1]
        other_guided += guided[1:]
        if len(firsts) >= num_images:
            break
    return (firsts + other_guided + unguided)[:num_images]


def load_classifier(cfg, checkpoint: str) -> nn.Module:
    """The config's model with the checkpoint's weights (strict), in eval
    mode, on the CPU; the config's top-level ``data_preprocessor`` is merged
    as the Runner merges it. mmengine checkpoints load under torch >= 2.6
    once :func:`provmm.engine.register_checkpoint_safe_globals` has run
    (tools/visualize_guidance.py runs it; provmm.engine imports this
    package, so this one does not import provmm.engine)."""
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    logger='silent')
    return model.eval()


def panel_titles(guidance: str, model_names: Sequence[str]) -> List[str]:
    """Titles of one row's panels, left to right: the image, M, then per
    model Guided Grad-CAM and ``|input grad|``, each for class A then B.
    Without a class B (an edit, ``'hard'``, or an unmixed image) the B
    panels stay blank and their titles say why."""
    if guidance not in ('soft', 'hard', 'none'):
        raise ValueError("guidance must be 'soft', 'hard' or 'none', got "
                         f'{guidance!r}')
    image, mask, no_b = {
        'soft': ('mixed image', 'provenance M (1 = A)', None),
        'hard': ('edited image', 'edit mask M (1 = kept)', 'edit'),
        'none': ('unmixed image', 'M = 1 (nothing to guide)', 'unmixed'),
    }[guidance]
    titles = [image, mask]
    for name in model_names:
        for _, kind in MAPS:
            titles.append(f'{name}: {kind} A')
            titles.append(f'{name}: no class B ({no_b})'
                          if no_b else f'{name}: {kind} B')
    return titles


def figure_size(rows: int, cols: int) -> tuple:
    """``(width, height)`` in pixels of a figure of ``rows`` x ``cols``
    panels."""
    return cols * CELL_PX[0], rows * CELL_PX[1]


def guidance_rows(samples: Sequence[GuidanceSample],
                  models: Dict[str, nn.Module],
                  target_layer: str = 'backbone') -> List[dict]:
    """Every panel's content, per image: ``sample``, ``maps[(name, kind,
    cls)]`` (the ``(H, W)`` channel norm of map ``kind`` of :data:`MAPS` of
    model ``name`` for class ``'A'`` or ``'B'``; ``None`` without a class B)
    and ``outside[(name, kind, cls)]`` (the share of the map's energy outside
    the class's own region, :func:`outside_provenance_share`)."""
    inputs = torch.stack([s.inputs for s in samples])
    masks = torch.stack([s.mask for s in samples])
    labels = {'A': torch.tensor([s.label_a for s in samples]),
              # no class B: the label's maps again, left undrawn
              'B': torch.tensor([s.label_a if s.label_b is None else
                                 s.label_b for s in samples])}
    regions = {'A': masks, 'B': 1 - masks}
    rows = [dict(sample=s, maps={}, outside={}) for s in samples]
    for name, model in models.items():
        device = next(model.parameters()).device
        for cls, label in labels.items():
            maps = attribution_maps(model, inputs.to(device), label,
                                    target_layer)
            for kind, _ in MAPS:
                for i, row in enumerate(rows):
                    value = maps[kind][i].float().cpu()
                    keep = cls == 'A' or row['sample'].label_b is not None
                    row['maps'][name, kind, cls] = (
                        value.norm(dim=0).numpy() if keep else None)
                    row['outside'][name, kind, cls] = float(
                        outside_provenance_share(
                            value[None], regions[cls][i][None])
                    ) if keep else None
    return rows


def draw_guidance_figure(rows: Sequence[dict], model_names: Sequence[str],
                         out_file: str,
                         class_names: Optional[Sequence[str]] = None) -> None:
    """Draw :func:`guidance_rows` as one PNG grid (rows = images, columns =
    :func:`panel_titles`), written atomically to ``out_file``."""
    cols = len(panel_titles('soft', model_names))
    width, height = figure_size(len(rows), cols)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)

    def name_of(label):
        return class_names[label] if class_names else str(label)

    def panel(r, c, title):
        x0 = c * CELL_PX[0] + PAD_PX / 2
        y0 = height - (r + 1) * CELL_PX[1] + PAD_PX / 2
        ax = fig.add_axes((x0 / width, y0 / height, PANEL_PX / width,
                           PANEL_PX / height))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color('0.6')  # white M = 1 on the white figure
        ax.set_title(title, fontsize=6.5, pad=2)
        return ax

    for r, row in enumerate(rows):
        sample = row['sample']
        titles = iter(panel_titles(sample.guidance, model_names))
        mask = sample.mask.numpy()
        image_title, names = next(titles), f'A = {name_of(sample.label_a)}'
        if sample.label_b is not None:
            image_title += f', λ = {sample.lam:.2f}'
            names += f', B = {name_of(sample.label_b)}'
        panel(r, 0, f'{image_title}\n{names}').imshow(sample.image)
        panel(r, 1, next(titles)).imshow(mask, cmap='gray', vmin=0, vmax=1)
        c = 2
        for name in model_names:
            for kind, _ in MAPS:
                for cls in 'AB':
                    title = next(titles)
                    value = row['maps'][name, kind, cls]
                    if value is None:
                        panel(r, c, title)
                    else:
                        share = row['outside'][name, kind, cls]
                        ax = panel(r, c, f'{title}\nout of region '
                                   f'{share:.0%}')
                        ax.imshow(normalize_scoremap(value), cmap='inferno',
                                  vmin=0, vmax=1)
                        # an edit mask's many contours would hide the map
                        if sample.guidance == 'soft':
                            ax.contour(mask, levels=[0.5], colors='cyan',
                                       linewidths=0.8)
                    c += 1
    with atomic_path(out_file) as tmp:
        fig.savefig(tmp, format='png', dpi=DPI)


def guidance_figure(cfg, checkpoints: Dict[str, str], out_file: str,
                    num_images: int = 4, seed: int = 0,
                    target_layer: str = 'backbone',
                    device: str = 'cpu') -> List[dict]:
    """Build ``num_images`` training images of ``cfg`` (its train pipeline
    and data preprocessor, mixed as in training), compute the maps of every
    model (``{name: checkpoint}``, all of ``cfg``'s architecture) and draw
    them to ``out_file``. Returns :func:`guidance_rows`."""
    if num_images < 1:
        raise ValueError(f'num_images must be >= 1, got {num_images}')
    init_default_scope(cfg.get('default_scope', 'provmm'))
    models = {name: load_classifier(cfg, path)
              for name, path in checkpoints.items()}
    dataset = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))
    samples = training_samples(
        dataset, cfg.train_dataloader.batch_size,
        next(iter(models.values())).data_preprocessor, num_images, seed)
    if not samples:
        raise ValueError(f'{cfg.filename}: the train dataset is empty')
    rows = guidance_rows(
        samples, {name: model.to(device) for name, model in models.items()},
        target_layer)
    draw_guidance_figure(rows, list(models), out_file,
                         dataset.metainfo.get('classes'))
    return rows
