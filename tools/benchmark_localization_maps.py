"""Per-image ``predict`` time of CAM, Grad-CAM and AdvCAM on one model.

Example (VGG16-CAM at 224 px, random weights, CPU, batch 8)::

    OMP_NUM_THREADS=1 python tools/benchmark_localization_maps.py \
        configs/provmm/wsol_cub_vgg16.py --iterations 0 1 2 4 --extrapolate 27

AdvCAM's cost is linear in its iterations ``T`` (one forward and backward
of the backbone per step, one more forward), so the time at
``--extrapolate T`` is the least-squares line through the measured
``T >= 1`` (at least two; ``T = 0`` is CAM itself and skips the climb).
Weights are the random initialisation: the time does not depend on them.
"""
import argparse
import statistics
import time
from typing import Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from provmm.registry import MODELS
from provmm.utils import register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config whose `model` is timed')
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--iterations', type=int, nargs='+',
                        default=[0, 1, 2, 4], help='AdvCAM iterations to time')
    parser.add_argument('--extrapolate', type=int, default=27,
                        help='AdvCAM iterations to extrapolate to')
    parser.add_argument('--rounds', type=int, default=1,
                        help='timed predict calls per map (median)')
    return parser.parse_args()


def predict_seconds(model, inputs, samples,
                    rounds: int) -> Tuple[float, float]:
    """Median wall and CPU seconds of ``model.predict`` under ``no_grad``
    (as in mmengine's test loop); CPU time is the steadier one on a shared
    machine."""
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            model.predict(inputs, samples)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    with DefaultScope.overwrite_default_scope('provmm'):
        model = MODELS.build(cfg.model).eval()  # no init_weights: random
    torch.manual_seed(0)
    inputs = torch.randn(args.batch_size, 3, args.size, args.size)
    samples = [DataSample().set_gt_label(i % model.head.num_classes)
               for i in range(args.batch_size)]
    methods = [('CAM', dict(type='CAM')), ('GradCAM', dict(type='GradCAM'))]
    methods += [(f'AdvCAM T={t}', dict(type='AdvCAM', iterations=t))
                for t in args.iterations]
    predict_seconds(model, inputs, samples, 1)  # warm-up
    print(f'{args.config}, {args.size} px, batch {args.batch_size}, '
          f'{torch.get_num_threads()} thread(s)\n')
    print('| map | wall s / image | CPU s / image |\n|---|---|---|')
    advcam = {}
    for name, localization in methods:
        model.localization = MODELS.build(localization)
        seconds = np.array(predict_seconds(model, inputs, samples,
                                           args.rounds)) / args.batch_size
        if localization.get('iterations', 0) > 0:
            advcam[localization['iterations']] = seconds
        print(f'| {name} | {seconds[0]:.3f} | {seconds[1]:.3f} |',
              flush=True)
    if len(advcam) >= 2:
        fits = [np.polyfit(list(advcam), [s[k] for s in advcam.values()], 1)
                for k in (0, 1)]
        cells = ' | '.join(f'{b + a * args.extrapolate:.3f} ({b:.3f} + '
                           f'{a:.3f} T)' for a, b in fits)
        print(f'| AdvCAM T={args.extrapolate}, extrapolated | {cells} |')


if __name__ == '__main__':
    main()
