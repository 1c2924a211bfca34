"""Cost of PuzzleMix beside a guided training step.

Times, on random data, the median over rounds of

- ``guided_step``: one ``train_step`` of a guided VGG16-CAM (CutMix + Eq. 9,
  :func:`provmm.benchmarks.guidance_cost.build_benchmark_model`, ``soft``);
- ``saliency``: PuzzleMix's saliency on the same model (one forward and one
  backward to the input, eval mode);
- ``mask_search``: the PuzzleMix mask and mix given the saliency (energy,
  graph cut, upsampling), at every grid size, with and without transport;
  ``graph_cut``: the swap solver alone on the batch's energies.

Example (CPU, see docs/mixing/puzzlemix.md)::

    OMP_NUM_THREADS=1 python tools/benchmark_puzzlemix.py --batch-size 32 \
        --step-batch-size 8 --size 224
"""
import argparse
import copy
import statistics
import time

import numpy as np
import torch
from mmengine.optim import OptimWrapper

from provmm.benchmarks.guidance_cost import (build_benchmark_model,
                                             random_batch, timed_step)
from provmm.provenance.graph_cut import grid_swap
from provmm.provenance.puzzlemix import (BLOCK_NUMS, puzzlemix,
                                         puzzlemix_energy,
                                         puzzlemix_saliency)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch-size', type=int, default=32,
                        help='batch of the mask search')
    parser.add_argument('--step-batch-size', type=int, default=None,
                        help='batch of the guided step and the saliency '
                        '(default: --batch-size)')
    parser.add_argument('--num-classes', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--mask-rounds', type=int, default=5)
    parser.add_argument('--no-step', action='store_true',
                        help='time the mask search only')
    return parser.parse_args()


def median_seconds(function, rounds: int, warmup: int = 1) -> float:
    times = []
    for step in range(warmup + rounds):
        start = time.perf_counter()
        function(step)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def blob_saliency(batch: int, size: int, generator) -> torch.Tensor:
    """One Gaussian blob per image plus noise: a saliency with structure."""
    grid = torch.arange(size, dtype=torch.float32)
    centre = torch.rand(batch, 2, generator=generator) * size
    dist = ((grid.view(1, -1, 1) - centre[:, 0, None, None])**2 +
            (grid.view(1, 1, -1) - centre[:, 1, None, None])**2)
    noise = torch.rand(batch, size, size, generator=generator)
    return torch.exp(-dist / (2 * (size / 6)**2)) + 0.05 * noise


def mask_search_seconds(batch: int, size: int, rounds: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(batch, 3, size, size, generator=generator)
    saliency = blob_saliency(batch, size, generator)
    neigh = 2 if size >= 224 else 4  # the authors' ImageNet / CIFAR values
    results = {}
    for block_num in BLOCK_NUMS:
        energy = puzzlemix_energy(saliency, inputs, torch.randperm(batch),
                                  0.5, block_num, neigh_size=neigh)
        results['graph_cut', block_num] = median_seconds(
            lambda _: [grid_swap(energy.unary[i], energy.weight_v[i],
                                 energy.weight_h[i], energy.smooth)
                       for i in range(batch)], rounds)
    for transport in (False, True):
        for block_num in BLOCK_NUMS:
            def run(step):
                torch.manual_seed(step)
                puzzlemix(inputs, saliency, torch.randperm(batch),
                          float(np.random.beta(1., 1.)), block_num,
                          neigh_size=neigh, transport=transport)
            results[transport, block_num] = median_seconds(run, rounds)
    return results


def step_seconds(batch: int, size: int, num_classes: int,
                 rounds: int) -> dict:
    torch.manual_seed(0)
    model = build_benchmark_model(dict(type='VGG16CAM'), 'soft', num_classes,
                                  1024).train()
    wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
    batches = [random_batch(batch, size, num_classes, seed=step)
               for step in range(rounds + 1)]
    step = median_seconds(
        lambda i: timed_step(model, wrapper, copy.deepcopy(batches[i]),
                             'cpu'), rounds)
    inputs = torch.randn(batch, 3, size, size)
    scores = torch.eye(num_classes)[torch.arange(batch) % num_classes]

    def saliency(_):
        model.eval()
        puzzlemix_saliency(lambda x: model(x, mode='tensor'), inputs, scores)
        model.train()
    return dict(guided_step=step,
                saliency=median_seconds(saliency, rounds))


def main():
    args = parse_args()
    step_batch = args.step_batch_size or args.batch_size
    masks = mask_search_seconds(args.batch_size, args.size, args.mask_rounds)
    print(f'mask search, batch {args.batch_size}, {args.size} px '
          f'(median of {args.mask_rounds}):')
    for key in ('graph_cut', False, True):
        row = ', '.join(f'n={n}: {masks[key, n]:.3f} s' for n in BLOCK_NUMS)
        mean = statistics.mean(masks[key, n] for n in BLOCK_NUMS)
        name = key if key == 'graph_cut' else f'transport={key}'
        print(f'  {name}: {row}; mean over n {mean:.3f} s')
    if args.no_step:
        return
    steps = step_seconds(step_batch, args.size, args.num_classes,
                         args.rounds)
    scale = args.batch_size / step_batch  # steps scale ~linearly with batch
    print(f'guided VGG16-CAM step, batch {step_batch}: '
          f'{steps["guided_step"]:.2f} s; saliency (forward + input '
          f'backward): {steps["saliency"]:.2f} s '
          f'(median of {args.rounds})')
    for transport in (False, True):
        mean = statistics.mean(masks[transport, n] for n in BLOCK_NUMS)
        print(f'  mask search (transport={transport}) / guided step at batch '
              f'{args.batch_size}: {mean / (steps["guided_step"] * scale):.1%}'
              + (f' (step extrapolated x{scale:g} from batch {step_batch})'
                 if scale != 1 else ''))
    print(f'  saliency / guided step: '
          f'{steps["saliency"] / steps["guided_step"]:.1%}')


if __name__ == '__main__':
    main()
