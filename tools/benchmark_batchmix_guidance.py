"""Step time and peak memory of guided vs. plain Skeleton BatchMix steps.

Example (the CPU benchmark size)::

    OMP_NUM_THREADS=1 python tools/benchmark_batchmix_guidance.py \
        --batch-size 16 --persons 2 --frames 32 --joints 17 --embed-dims 64

Variants, full ``model.train_step`` (preprocessor, forward, loss, backward,
SGD update) of ``SkeletonPointRecognizer`` + ``SkeletonBatchMix`` (every
batch mixed, Table 8):

- ``plain``: BatchMix and ``loss_cls`` only (one forward, one backward);
- ``guided``: the same + alpha * L_PG (Eq. 9) with respect to ``X~``.

As :mod:`provmm.benchmarks.guidance_cost` does for images: after warm-up,
every round runs one step of each variant, the order rotating from round to
round; the ratio to ``plain`` is taken within each round and its median is
reported, next to median wall-clock and CPU (``process_time``) times.
Memory: each variant in a fresh process, glibc told to return freed blocks
at once, peak resident memory added by training (``VmHWM`` after a reset,
minus the resident memory after building the model) plus parameter bytes;
on CUDA ``torch.cuda.max_memory_allocated``.
"""
import argparse
import copy
import multiprocessing

import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from provmm.benchmarks.guidance_cost import (EXACT_RSS_ENV,
                                             environment_variables,
                                             format_results,
                                             keep_freed_memory,
                                             median_times,
                                             steps_peak_memory, timed_step)
from provmm.registry import MODELS

VARIANTS = ('plain', 'guided')


def build_model(variant: str, args) -> torch.nn.Module:
    """``SkeletonPointRecognizer`` with BatchMix, guided or not."""
    if variant not in VARIANTS:
        raise ValueError(f'unknown variant {variant!r}; expected one of '
                         f'{VARIANTS}')
    return MODELS.build(dict(
        type='provmm.SkeletonPointRecognizer',
        backbone=dict(type='SkeletonPointNet', num_joints=args.joints,
                      embed_dims=args.embed_dims,
                      num_blocks=args.num_blocks),
        num_classes=args.num_classes,
        batch_mix=dict(type='SkeletonBatchMix', split=2, prob=1.0),
        provenance_loss=dict(type='ProvenanceGradientLoss',
                             loss_weight=args.alpha)
        if variant == 'guided' else None))


def random_batch(args, seed: int = 0) -> dict:
    """Skeletons in the dataloader's format: ``(P, T, V, 3)`` per sample,
    the last person padded in a quarter of the frames of half the
    samples."""
    generator = torch.Generator().manual_seed(seed)
    inputs = []
    for index in range(args.batch_size):
        skeleton = torch.rand(args.persons, args.frames, args.joints, 3,
                              generator=generator) * 2 - 1
        skeleton[..., 2] = skeleton[..., 2].abs()
        if index % 2:
            skeleton[-1, :args.frames // 4] = 0
        inputs.append(skeleton)
    labels = torch.randint(0, args.num_classes, (args.batch_size, ),
                           generator=generator)
    return dict(inputs=inputs,
                data_samples=[DataSample().set_gt_label(int(label))
                              for label in labels])


def training_memory(variant: str, args, steps: int = 3) -> dict:
    """Peak memory (bytes) of ``steps`` training steps of one variant; on
    CPU run it in a fresh process (see the module docstring)."""
    torch.manual_seed(0)
    model = build_model(variant, args).to(args.device).train()
    optim_wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
    batches = [random_batch(args, seed) for seed in range(steps)]
    if args.device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        for data in batches:
            model.train_step(data, optim_wrapper)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return dict(process_peak=peak, added=peak, training_peak=peak)
    return steps_peak_memory(model, optim_wrapper, batches)


def benchmark(args) -> dict:
    """``{variant: {'wall', 'cpu', 'wall_ratio', 'cpu_ratio'[, memory]}}``
    (medians; ratios are medians of per-round ratios to ``plain``)."""
    if args.steady_allocator:
        keep_freed_memory()
    models, wrappers = {}, {}
    for variant in VARIANTS:
        torch.manual_seed(0)
        models[variant] = build_model(variant, args).to(args.device).train()
        wrappers[variant] = OptimWrapper(torch.optim.SGD(
            models[variant].parameters(), lr=1e-3, momentum=0.9))
    times = {variant: [] for variant in VARIANTS}
    for step in range(args.warmup + args.rounds):
        data = random_batch(args, seed=step)
        shift = step % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            torch.manual_seed(step)  # the same partners for both variants
            elapsed = timed_step(models[variant], wrappers[variant],
                                 copy.deepcopy(data), args.device)
            if step >= args.warmup:
                times[variant].append(elapsed)
    results = median_times(times)
    for variant in VARIANTS:
        if not args.no_memory:
            results[variant].update(_memory(variant, args))
    return results


def _memory(variant: str, args) -> dict:
    if args.device.startswith('cuda'):
        return training_memory(variant, args)
    with environment_variables(EXACT_RSS_ENV), multiprocessing.get_context(
            'spawn').Pool(1) as pool:
        return pool.apply(training_memory, (variant, args))



def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--persons', type=int, default=2)
    parser.add_argument('--frames', type=int, default=32)
    parser.add_argument('--joints', type=int, default=17)
    parser.add_argument('--embed-dims', type=int, default=64)
    parser.add_argument('--num-blocks', type=int, default=2)
    parser.add_argument('--num-classes', type=int, default=24)
    parser.add_argument('--alpha', type=float, default=0.01,
                        help='loss weight (Table 8, UCF101-24: 0.01)')
    parser.add_argument('--rounds', type=int, default=20,
                        help='timed rounds (one step of every variant each)')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak-memory measurement')
    parser.add_argument('--steady-allocator', action='store_true',
                        help='glibc keeps freed memory while timing')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    results = benchmark(args)
    title = (f'SkeletonPointNet D={args.embed_dims}, {args.num_blocks} '
             f'blocks, B={args.batch_size}, P={args.persons}, '
             f'T={args.frames}, V={args.joints}, K={args.num_classes}, '
             f'{args.device}, {torch.get_num_threads()} threads, '
             f'{args.rounds} interleaved rounds (medians; ratios are medians '
             'of per-round ratios)'
             + (', steady allocator' if args.steady_allocator else ''))
    print(format_results(results, title))
    return results


if __name__ == '__main__':
    main()
