"""alpha adapted so that alpha * L_PG / L_cls tracks a target ratio."""
import pytest
import torch
import torch.nn.functional as F

from provmm.provenance.alpha_controller import (RatioTrackingAlpha,
                                                default_target_ratio,
                                                ema_update, tracked_alpha)


def _scalar(value):
    return torch.tensor(value, dtype=torch.float64)


def test_tracked_alpha_is_the_clipped_ratio():
    assert tracked_alpha(_scalar(2.0), _scalar(0.5), 0.2, 0.0, 10.0) == 0.8
    assert tracked_alpha(_scalar(2.0), _scalar(1e-6), 0.2, 0.0, 10.0) == 10
    assert tracked_alpha(_scalar(2.0), _scalar(0.0), 0.2, 0.0, 10.0) == 10
    assert tracked_alpha(_scalar(1e-9), _scalar(1.0), 0.2, 0.5, 10.0) == 0.5


def test_bias_corrected_moving_average():
    average, corrected = ema_update(_scalar(0.0), torch.tensor(1),
                                    _scalar(3.0), 0.9)
    torch.testing.assert_close(average, _scalar(0.3))
    torch.testing.assert_close(corrected, _scalar(3.0))
    average, corrected = ema_update(average, torch.tensor(2), _scalar(1.0),
                                    0.9)
    # (0.9 * 0.3 + 0.1 * 1) / (1 - 0.81) = 0.37 / 0.19
    torch.testing.assert_close(corrected, _scalar(0.37 / 0.19))


def test_first_alpha_gives_the_target_ratio_and_state_is_in_buffers():
    controller = RatioTrackingAlpha(target_ratio=0.2, momentum=0.9)
    assert set(controller.state_dict()) == {'mean_cls', 'mean_pg', 'alpha',
                                            'count', 'target'}
    alpha = controller.update(torch.tensor(2.0), torch.tensor(0.01))
    torch.testing.assert_close(alpha, _scalar(0.2 * 2.0 / 0.01))
    assert controller.alpha == alpha and controller.count == 1


def test_state_dict_round_trip_gives_identical_next_alpha():
    generator = torch.Generator().manual_seed(0)
    losses = torch.rand(20, 2, generator=generator, dtype=torch.float64)
    trained = RatioTrackingAlpha(target_ratio=0.3, momentum=0.95)
    for loss_cls, loss_pg in losses[:10]:
        trained.update(loss_cls, loss_pg)
    resumed = RatioTrackingAlpha(target_ratio=0.3, momentum=0.95)
    resumed.load_state_dict(trained.state_dict())
    fresh = RatioTrackingAlpha(target_ratio=0.3, momentum=0.95)
    for loss_cls, loss_pg in losses[10:]:
        expected = trained.update(loss_cls, loss_pg)
        assert torch.equal(resumed.update(loss_cls, loss_pg), expected)
        assert not torch.equal(fresh.update(loss_cls, loss_pg), expected)


def test_tracks_the_target_ratio_while_training_a_toy_model():
    # Logistic regression; L_PG = |grad_x f_y|^2 over the second half of the
    # features (the input gradient of the logit f_y = x . w_y is w_y).
    torch.manual_seed(0)
    features, classes, rho = 8, 3, 0.2
    x = torch.randn(256, features)
    labels = (x[:, :3] @ torch.randn(3, classes)).argmax(1)
    weight = (0.1 * torch.randn(features, classes)).requires_grad_(True)
    optimizer = torch.optim.SGD([weight], lr=0.5, momentum=0.9)
    controller = RatioTrackingAlpha(target_ratio=rho, momentum=0.9)
    ratios, alphas = [], []
    for _ in range(300):
        loss_cls = F.cross_entropy(x @ weight, labels)
        loss_pg = weight[features // 2:, labels].pow(2).sum(0).mean()
        alpha = controller.update(loss_cls, loss_pg)
        optimizer.zero_grad()
        (loss_cls + alpha.float() * loss_pg).backward()
        optimizer.step()
        ratios.append(float(alpha * loss_pg.detach() / loss_cls.detach()))
        alphas.append(float(alpha))
    late = torch.tensor(ratios[-100:])
    assert abs(float(late.median()) / rho - 1) < 0.1
    assert max(alphas[-100:]) / min(alphas[-100:]) < 1.5  # settled


def test_alpha_is_held_after_update_iters_and_resumes_held():
    controller = RatioTrackingAlpha(target_ratio=0.2, momentum=0.5,
                                    update_iters=2)
    controller.update(torch.tensor(1.0), torch.tensor(0.1))
    # m^_2 = (0.25 * 1 + 0.5 * 3) / 0.75 = 7/3 and (0.25 * .1 + .5 * .3) / .75
    held = controller.update(torch.tensor(3.0), torch.tensor(0.3))
    torch.testing.assert_close(held, _scalar(0.2 * (7 / 3) / (0.175 / 0.75)))
    for loss_pg in (1e-6, 10.0):  # later losses no longer move alpha
        assert torch.equal(
            controller.update(torch.tensor(1.0), torch.tensor(loss_pg)), held)
    assert controller.count == 2
    resumed = RatioTrackingAlpha(target_ratio=0.2, momentum=0.5,
                                 update_iters=2)
    resumed.load_state_dict(controller.state_dict())
    assert torch.equal(
        resumed.update(torch.tensor(5.0), torch.tensor(1e-3)), held)
    with pytest.raises(ValueError, match='update_iters must be None or >= 1'):
        RatioTrackingAlpha(target_ratio=0.2, update_iters=0)


def test_an_unset_target_ratio_is_chosen_once_and_restored():
    controller = RatioTrackingAlpha(target_ratio=None)
    with pytest.raises(RuntimeError, match='no target ratio'):
        controller.update(_scalar(1.0), _scalar(1.0))
    assert (default_target_ratio(True), default_target_ratio(False)) == (
        0.03, 0.2)
    assert controller.set_default_target_ratio(mixed=False) == 0.2
    assert controller.set_default_target_ratio(mixed=True) == 0.2  # kept
    resumed = RatioTrackingAlpha(target_ratio=None)
    resumed.load_state_dict(controller.state_dict())
    assert resumed.target_ratio == 0.2
    assert RatioTrackingAlpha(target_ratio=0.03).target_ratio == 0.03
    with pytest.raises(ValueError, match='target_ratio must be None or > 0'):
        RatioTrackingAlpha(target_ratio=-1.0)
