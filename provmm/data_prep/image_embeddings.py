"""Image embeddings keyed by file path, from an NPZ file or a model.

NPZ layout (read by :func:`load_embedding_table`, written by
:func:`save_embedding_table`): ``paths`` (N,) strings and ``embeddings``
(N, D) floats; relative paths are relative to a given root folder (the
manifest's folder for ``tools/filter_generated.py``), absolute ones are kept.

Model embeddings (:class:`ImageEmbedder`): any model registered in provmm
or mmpretrain, built from a config and optionally a checkpoint, run by
mmpretrain's ``FeatureExtractor``: images are read as ``LoadImageFromFile``
does, go through the rest of the config's test pipeline
(``test_dataloader.dataset.pipeline``, or ``test_pipeline``), which must
give every image the same size, and the model's data preprocessor. The
embedding is the last output of ``model.extract_feat`` (for mmpretrain's
CLIP models, called with ``texts=None``: the projected image embedding),
average-pooled over space (C, H, W) or tokens (L, C).
"""
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

import numpy as np

from .output_files import atomic_path


def _resolve(path: str, root: str) -> str:
    return osp.normpath(osp.join(root, path))


def load_embedding_table(npz_path: str, root: str) -> Dict[str, np.ndarray]:
    """``{absolute path: (D,) embedding}`` from an NPZ (module docstring)."""
    if not osp.isfile(npz_path):
        raise FileNotFoundError(f'embeddings file not found: {npz_path}')
    with np.load(npz_path, allow_pickle=False) as data:
        missing = [k for k in ('paths', 'embeddings') if k not in data.files]
        if missing:
            raise ValueError(f'{npz_path}: lacks array(s) {missing}; found '
                             f'{data.files}, expected paths (N,) and '
                             'embeddings (N, D)')
        paths, embeddings = data['paths'], data['embeddings']
    if embeddings.ndim != 2 or paths.shape != (len(embeddings), ):
        raise ValueError(f'{npz_path}: expected paths (N,) and embeddings '
                         f'(N, D), got {paths.shape} and {embeddings.shape}')
    table = {}
    for path, embedding in zip(paths.tolist(), embeddings):
        key = _resolve(str(path), root)
        if key in table:
            raise ValueError(f'{npz_path}: path {path} is listed twice')
        table[key] = embedding
    return table


def save_embedding_table(npz_path: str, paths: Sequence[str],
                         embeddings: np.ndarray, root: str) -> None:
    """Write absolute ``paths`` relative to ``root`` with their (N, D)
    embeddings to ``npz_path`` (atomically, at exactly that name)."""
    relative = [osp.relpath(p, root) for p in paths]
    with atomic_path(npz_path) as tmp, open(tmp, 'wb') as f:
        np.savez(f, paths=np.array(relative, dtype=str),
                 embeddings=np.asarray(embeddings))


def pool_features(feats, path: str = '') -> np.ndarray:
    """(D,) float32 embedding of one image's features: the last of a tuple,
    averaged over space (C, H, W) or tokens (L, C)."""
    if isinstance(feats, (tuple, list)):
        feats = feats[-1]
    if feats.dim() == 3:
        feats = feats.mean(dim=(1, 2))
    elif feats.dim() == 2:
        feats = feats.mean(dim=0)
    elif feats.dim() != 1:
        raise ValueError(f'{path}: cannot turn features of shape '
                         f'{tuple(feats.shape)} into an embedding')
    return feats.float().cpu().numpy()


class ImageEmbedder:
    """Embeds image files with a model built from a config (module docstring).

    Args:
        config: config file (or ``mmengine.Config``) with ``model`` and a
            test pipeline.
        checkpoint: weights to load; None leaves the model's initial
            weights (meaningful only for tests).
        device: torch device.
    """

    def __init__(self, config, checkpoint: Optional[str] = None,
                 device: str = 'cpu'):
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmpretrain.apis import FeatureExtractor

        from provmm.registry import MODELS

        cfg = config if isinstance(config, Config) else Config.fromfile(
            config)
        init_default_scope(cfg.get('default_scope', 'provmm'))
        pipeline = cfg.get('test_pipeline')
        if cfg.get('test_dataloader') is not None:
            pipeline = cfg.test_dataloader.dataset.get('pipeline', pipeline)
        if not pipeline:
            raise ValueError(f'{cfg.filename}: no test pipeline (expected '
                             'test_dataloader.dataset.pipeline or '
                             'test_pipeline) to prepare the images')
        # Built here: FeatureExtractor(config) builds in mmpretrain's scope,
        # which lacks provmm's models; it reads the pipeline from _config.
        model = MODELS.build(cfg.model)
        model._config = Config(
            dict(test_dataloader=dict(dataset=dict(pipeline=pipeline))))
        self.extractor = FeatureExtractor(model, pretrained=checkpoint,
                                          device=device)
        # CLIP's extract_feat(images, texts) embeds images when texts=None
        self.feat_kwargs = dict(texts=None) if hasattr(
            model, 'extract_image_feat') else {}

    def embed_batch(self, paths: Sequence[str]) -> np.ndarray:
        """(len(paths), D) float32 embeddings of the image files."""
        feats = self.extractor(list(paths), batch_size=len(paths),
                               **self.feat_kwargs)
        return np.stack([pool_features(f, p) for f, p in zip(feats, paths)])

    def __call__(self, paths: Sequence[str], batch_size: int = 32,
                 progress: bool = True) -> np.ndarray:
        """(len(paths), D) float32 embeddings, ``batch_size`` at a time."""
        from mmengine.utils import ProgressBar

        # sys.stdout now, not mmengine's default bound at import
        bar = ProgressBar(len(paths), file=sys.stdout) if (
            progress and paths) else None
        chunks = []
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            chunks.append(self.embed_batch(chunk))
            if bar is not None:
                for _ in chunk:
                    bar.update()
        if bar is not None:
            print()
        return np.concatenate(chunks) if chunks else np.zeros((0, 0))
