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
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn


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
        target_ratio (float): rho, the aimed ``alpha * L_PG / L_cls``.
        momentum (float): beta of the moving averages, in [0, 1).
        alpha_min (float): lower bound of alpha.
        alpha_max (float): upper bound of alpha.
        update_iters (int, optional): updates after which alpha is held
            (None: tracked throughout training).

    Buffers: ``mean_cls``, ``mean_pg`` (uncorrected moving averages, FP64),
    ``count`` (updates so far) and ``alpha`` (the last alpha; 0 before the
    first update).
    """

    def __init__(self, target_ratio: float, momentum: float = 0.99,
                 alpha_min: float = 0.0, alpha_max: float = 1000.0,
                 update_iters: Optional[int] = None):
        super().__init__()
        if update_iters is not None and update_iters < 1:
            raise ValueError('RatioTrackingAlpha: update_iters must be None '
                             f'or >= 1, got {update_iters}')
        self.update_iters = update_iters
        self.target_ratio = target_ratio
        self.momentum = momentum
        self.alpha_min = alpha_min
        self.alpha_max = alpha_max
        for name in ('mean_cls', 'mean_pg', 'alpha'):
            self.register_buffer(name, torch.zeros((), dtype=torch.float64))
        self.register_buffer('count', torch.zeros((), dtype=torch.long))

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
