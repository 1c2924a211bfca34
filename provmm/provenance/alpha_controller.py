"""alpha of Eq. 1 adapted online so that ``alpha * L_PG / L_cls`` tracks a
target ratio (not in the paper; docs/method.md, "Cheaper and self-tuning
guidance").

Input-gradient energies depend on the input scale and the network, so a
fixed alpha does not transfer between tasks. With exponential moving averages
(bias-corrected as in Adam) of the two losses,

    m_t = beta m_{t-1} + (1 - beta) v_t,      m^_t = m_t / (1 - beta^t),
    alpha_t = clip(rho * m^_t(L_cls) / m^_t(L_PG), alpha_min, alpha_max)

where ``L_PG`` is the unweighted penalty (alpha = 1) and ``t`` counts the
updates (iterations with something to penalise). alpha is a constant of
each step (no gradient flows through it). ``alpha_max`` bounds alpha when
L_PG vanishes (a model whose input gradients have collapsed).

Tracking throughout training is a feedback loop: the network answers a
larger alpha by shrinking its input gradients, which lowers L_PG and raises
alpha again, up to ``alpha_max`` (seen on the synthetic STAL task). With
``update_iters = n`` alpha is calibrated on the first n updates only and
then held: the ratio is set from the losses' own scales before the
penalty has reshaped the network, as one would set a fixed alpha by hand.

The useful rho depends on the synthesis (measured on the four built-in
benchmarks, docs/method.md "Which rho"): about 0.03 for mixed inputs with two
labels (Eq. 9: CutMix, BatchMix) and 0.2 for edited inputs with one label
(Eq. 10: ALIA-like edits). :func:`default_target_ratio` picks it.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn

MIXING_TARGET_RATIO = 0.03
EDITING_TARGET_RATIO = 0.2


def default_target_ratio(mixed: bool) -> float:
    """rho for a batch with mixed (two-label, Eq. 9) samples, else for
    edited (one-label, Eq. 10) ones."""
    return MIXING_TARGET_RATIO if mixed else EDITING_TARGET_RATIO


def tracked_alpha(mean_cls: torch.Tensor, mean_pg: torch.Tensor,
                  target_ratio: float, alpha_min: float,
                  alpha_max: float) -> torch.Tensor:
    """``clip(rho * mean_cls / mean_pg, alpha_min, alpha_max)``; a zero
    ``mean_pg`` gives ``alpha_max``."""
    tiny = torch.finfo(mean_pg.dtype).tiny
    alpha = target_ratio * mean_cls / mean_pg.clamp(min=tiny)
    return alpha.clamp(min=alpha_min, max=alpha_max)


def ema_update(average: torch.Tensor, count: torch.Tensor,
               value: torch.Tensor,
               momentum: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """One EMA step; returns ``(m_t, m^_t)`` (the bias-corrected mean)
    for ``count`` = ``t`` updates including this one."""
    average = momentum * average + (1 - momentum) * value
    return average, average / (1 - momentum**count.to(average.dtype))


class RatioTrackingAlpha(nn.Module):
    """The state of the controller in buffers (saved in checkpoints).

    Args:
        target_ratio (float, optional): rho, the aimed ``alpha * L_PG /
            L_cls``; None: set by :meth:`set_default_target_ratio` before the
            first update.
        momentum (float): beta of the moving averages, in [0, 1).
        alpha_min (float): lower bound of alpha.
        alpha_max (float): upper bound of alpha.
        update_iters (int, optional): updates after which alpha is held
            (None: tracked throughout training).

    Buffers: ``mean_cls``, ``mean_pg`` (uncorrected moving averages, FP64),
    ``count`` (updates so far), ``alpha`` (the last alpha; 0 before the
    first update) and ``target`` (rho; 0 while not set).
    """

    def __init__(self, target_ratio: Optional[float],
                 momentum: float = 0.99,
                 alpha_min: float = 0.0, alpha_max: float = 1000.0,
                 update_iters: Optional[int] = None):
        super().__init__()
        if update_iters is not None and update_iters < 1:
            raise ValueError('RatioTrackingAlpha: update_iters must be None '
                             f'or >= 1, got {update_iters}')
        if target_ratio is not None and target_ratio <= 0:
            raise ValueError('RatioTrackingAlpha: target_ratio must be None '
                             f'or > 0, got {target_ratio}')
        self.update_iters = update_iters
        self.momentum = momentum
        self.alpha_min = alpha_min
        self.alpha_max = alpha_max
        for name in ('mean_cls', 'mean_pg', 'alpha'):
            self.register_buffer(name, torch.zeros((), dtype=torch.float64))
        self.register_buffer('count', torch.zeros((), dtype=torch.long))
        # a buffer: a resumed run keeps the rho it chose from its data
        self.register_buffer(
            'target', torch.tensor(target_ratio or 0.0, dtype=torch.float64))

    @property
    def target_ratio(self) -> Optional[float]:
        """rho, None while not set."""
        return float(self.target) or None

    def set_default_target_ratio(self, mixed: bool) -> float:
        """Set rho by :func:`default_target_ratio` unless it is set; returns
        rho."""
        if self.target_ratio is None:
            self.target.fill_(default_target_ratio(mixed))
        return self.target_ratio

    @torch.no_grad()
    def update(self, loss_cls: torch.Tensor,
               loss_pg: torch.Tensor) -> torch.Tensor:
        """Fold in this iteration's losses and return alpha (a detached
        FP64 scalar on the buffers' device); after ``update_iters`` updates
        the held alpha.

        Args:
            loss_cls (Tensor): scalar classification loss.
            loss_pg (Tensor): scalar unweighted L_PG.
        """
        if self.update_iters is not None and \
                int(self.count) >= self.update_iters:
            return self.alpha.clone()
        if self.target_ratio is None:
            raise RuntimeError('RatioTrackingAlpha: no target ratio; call '
                               'set_default_target_ratio() first')
        self.count += 1
        means = []
        for name, value in (('mean_cls', loss_cls), ('mean_pg', loss_pg)):
            average, corrected = ema_update(
                getattr(self, name), self.count,
                value.detach().to(self.mean_cls), self.momentum)
            getattr(self, name).copy_(average)
            means.append(corrected)
        self.alpha.copy_(
            tracked_alpha(*means, self.target_ratio, self.alpha_min,
                          self.alpha_max))
        return self.alpha.clone()
