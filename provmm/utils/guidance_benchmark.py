"""Cost of provenance gradient guidance: step time and peak memory.

Compares full training steps (data preprocessor with CutMix, forward, loss,
backward, SGD update through ``model.train_step``) of

- ``plain``: CutMix, ``ImageClassifier`` behaviour (``provenance_loss=None``),
- ``soft``: CutMix + alpha * L_PG, Eq. 9 (two input gradients),
- ``hard``: CutMix + alpha * L_PG, Eq. 10 (one input gradient).

Steps of the variants are interleaved so that load from other processes
affects them alike; the median is reported. Peak memory is
``torch.cuda.max_memory_allocated`` on CUDA; on CPU (where torch keeps no
allocator statistics) it is the peak resident memory added by training, each
variant in a fresh process (:func:`cpu_training_memory`).
"""
import copy
import multiprocessing
import statistics
import time
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from provmm.registry import MODELS

VARIANTS = ('plain', 'soft', 'hard')


def build_benchmark_model(backbone: dict, variant: str, num_classes: int,
                          in_channels: int, target: str = 'logit'):
    """A ``ProvenanceImageClassifier`` with CutMix for one variant."""
    provenance_loss = None
    if variant != 'plain':
        provenance_loss = dict(type='ProvenanceGradientLoss',
                               loss_weight=0.05, mode=variant, target=target)
    return MODELS.build(
        dict(type='ProvenanceImageClassifier',
             backbone=copy.deepcopy(backbone),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=num_classes,
                       in_channels=in_channels,
                       loss=dict(type='CrossEntropyLoss', use_soft=True)),
             provenance_loss=provenance_loss,
             data_preprocessor=dict(
                 type='ProvenanceMixBatchAugment',
                 num_classes=num_classes,
                 mean=[123.675, 116.28, 103.53],
                 std=[58.395, 57.12, 57.375],
                 augments=[dict(type='ProvenanceCutMix', alpha=1.0)],
                 probs=[1.0])))


def random_batch(batch_size: int, size: int, num_classes: int,
                 seed: int = 0) -> dict:
    """uint8 images and labels in the dataloader's (pseudo-collate) format."""
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), generator=generator,
                            dtype=torch.uint8) for _ in range(batch_size)]
    labels = torch.randint(0, num_classes, (batch_size, ), generator=generator)
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    return dict(inputs=inputs, data_samples=samples)


def benchmark_guidance(backbone: dict,
                       in_channels: int,
                       size: int = 64,
                       batch_size: int = 16,
                       num_classes: int = 200,
                       steps: int = 20,
                       warmup: int = 3,
                       device: str = 'cpu',
                       target: str = 'logit',
                       variants=VARIANTS) -> Dict[str, Dict[str, float]]:
    """Median step time (s) and peak memory (bytes) of each variant.

    Returns:
        dict: ``{variant: {'time': s, 'peak_bytes': b,
        'process_peak_bytes': b}}``. On CUDA both are
        ``max_memory_allocated`` of a step (parameters included); on CPU they
        are the two values of :func:`cpu_training_memory`.
    """
    models, wrappers = {}, {}
    for variant in variants:
        torch.manual_seed(0)
        model = build_benchmark_model(backbone, variant, num_classes,
                                      in_channels, target).to(device).train()
        models[variant] = model
        wrappers[variant] = OptimWrapper(
            torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
    times = {variant: [] for variant in variants}
    for step in range(warmup + steps):
        for variant in variants:
            data = random_batch(batch_size, size, num_classes, seed=step)
            elapsed = _timed_step(models[variant], wrappers[variant], data,
                                  device)
            if step >= warmup:
                times[variant].append(elapsed)
    results = {}
    for variant in variants:
        if device.startswith('cuda'):
            data = random_batch(batch_size, size, num_classes, seed=0)
            peak = _cuda_peak_bytes(models[variant], wrappers[variant], data)
            process_peak = peak
        else:
            # A fresh process per variant: freed heap memory is not returned
            # to the OS, so RSS peaks of variants in one process would mix.
            with multiprocessing.get_context('spawn').Pool(1) as pool:
                peak, process_peak = pool.apply(
                    cpu_training_memory,
                    (backbone, in_channels, variant, size, batch_size,
                     num_classes, target))
        results[variant] = dict(time=statistics.median(times[variant]),
                                peak_bytes=peak,
                                process_peak_bytes=process_peak)
    return results


def format_results(results: Dict[str, Dict[str, float]],
                   title: Optional[str] = None) -> str:
    """A markdown table with ratios to ``plain``."""
    base = results['plain']
    lines: List[str] = [title] if title else []
    lines += ['| variant | median step (s) | x plain | peak training memory '
              '(MiB) | x plain | process peak (MiB) | x plain |',
              '|---|---|---|---|---|---|---|']
    for variant, result in results.items():
        lines.append(
            f"| {variant} | {result['time']:.4f} | "
            f"{result['time'] / base['time']:.2f} | "
            f"{result['peak_bytes'] / 2**20:.1f} | "
            f"{result['peak_bytes'] / base['peak_bytes']:.2f} | "
            f"{result['process_peak_bytes'] / 2**20:.1f} | "
            f"{result['process_peak_bytes'] / base['process_peak_bytes']:.2f}"
            ' |')
    return '\n'.join(lines)


def _timed_step(model, optim_wrapper, data, device) -> float:
    _synchronize(device)
    start = time.perf_counter()
    model.train_step(data, optim_wrapper)
    _synchronize(device)
    return time.perf_counter() - start


def _cuda_peak_bytes(model, optim_wrapper, data) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    model.train_step(data, optim_wrapper)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def cpu_training_memory(backbone: dict, in_channels: int, variant: str,
                        size: int, batch_size: int, num_classes: int,
                        target: str = 'logit',
                        steps: int = 3) -> Tuple[int, int]:
    """Peak resident memory of training on CPU (bytes), measured on Linux.

    Runs in a fresh process (see :func:`benchmark_guidance`). Returns the
    peak RSS (``VmHWM``, reset through ``/proc/self/clear_refs``) during
    ``steps`` training steps minus the RSS after building the model (what
    training adds: gradients, optimizer state, activations, the
    double-backprop graph), and the process's peak RSS itself.
    """
    torch.manual_seed(0)
    model = build_benchmark_model(backbone, variant, num_classes, in_channels,
                                  target).train()
    optim_wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
    batches = [random_batch(batch_size, size, num_classes, seed=step)
               for step in range(steps)]
    with open('/proc/self/clear_refs', 'w') as clear_refs:
        clear_refs.write('5')  # reset the peak RSS (VmHWM) to the current RSS
    baseline = _proc_status_bytes('VmRSS')
    for data in batches:
        model.train_step(data, optim_wrapper)
    peak = _proc_status_bytes('VmHWM')
    return peak - baseline, peak


def _proc_status_bytes(key: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'{key} not found in /proc/self/status')


def _synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()
