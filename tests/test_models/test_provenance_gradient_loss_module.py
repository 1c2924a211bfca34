"""ProvenanceGradientLoss (MODELS): modes, control masks, warm-up, log keys."""
import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample

from provmm.provenance.gradient_loss import provenance_gradient_loss
from provmm.provenance.control_masks import random_pixel_mask
from provmm.registry import MODELS

B, C, H, W, K = 4, 3, 4, 4, 6


def _problem():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(B, C, H, W, generator=generator)
    weight = torch.randn(K, C * H * W, generator=generator)
    masks = (torch.rand(B, H, W, generator=generator) > 0.5).float()
    labels, partners = [0, 1, 2, 3], [1, 0, 2, 3]  # 0 and 1 mixed
    samples = []
    for i in range(B):
        sample = DataSample().set_gt_label(labels[i])
        sample.prov_mask = masks[i] if partners[i] != i else torch.ones(H, W)
        sample.mix_partner = partners[i]
        sample.gt_label_b = torch.tensor([labels[partners[i]]])
        sample.guidance = 'soft' if partners[i] != i else 'none'
        samples.append(sample)
    # Sample 3 is an edited, unmixed image with a pipeline mask (Eq. 10).
    samples[3].prov_mask = masks[3]
    samples[3].guidance = 'hard'
    return x, weight, samples


SOFT = torch.tensor([True, True, False, False])
LABEL_B = torch.tensor([1, 0, 2, 3])


def _soft_only(mask):
    """The mask 'soft' mode penalises: M = 1 for the samples not soft."""
    return torch.where(SOFT.view(-1, 1, 1), mask, torch.ones_like(mask))


def _forward(loss_cfg, x, weight, samples, loss_cls=None):
    module = MODELS.build(loss_cfg)
    inputs = x.clone().requires_grad_(True)
    logits = inputs.flatten(1) @ weight.t()
    return module(inputs, logits, samples, loss_cls), inputs, logits


def _reference(x, weight, mask, label_a, label_b, target='logit',
               soft=None):
    inputs = x.clone().requires_grad_(True)
    logits = inputs.flatten(1) @ weight.t()
    return provenance_gradient_loss(inputs, logits, mask, label_a, label_b,
                                    target, soft=soft)


def test_modes_select_eq9_eq10_per_sample():
    x, weight, samples = _problem()
    mask = torch.stack([s.prov_mask for s in samples])
    label_a = torch.tensor([0, 1, 2, 3])
    alpha = 0.3
    for mode, mode_mask, label_b, soft in (
            ('soft', _soft_only(mask), LABEL_B, SOFT),
            ('hard', mask, None, None),
            ('auto', mask, LABEL_B, SOFT)):
        out, _, _ = _forward(
            dict(type='ProvenanceGradientLoss', loss_weight=alpha, mode=mode,
                 target='margin'), x, weight, samples)
        expected = alpha * _reference(x, weight, mode_mask, label_a, label_b,
                                      'margin', soft)
        torch.testing.assert_close(out['loss_pg'], expected)


def test_soft_mode_ignores_unmixed_edited_sample_and_auto_does_not():
    x, weight, samples = _problem()
    only_edited = [samples[3]]
    only_edited[0].mix_partner = 0  # its own index in a batch of one
    soft, _, _ = _forward(dict(type='ProvenanceGradientLoss', mode='soft'),
                          x[3:], weight, only_edited)
    auto, _, _ = _forward(dict(type='ProvenanceGradientLoss', mode='auto'),
                          x[3:], weight, only_edited)
    assert soft['loss_pg'].item() == 0
    assert auto['loss_pg'].item() > 0


def test_unmasked_control_penalises_whole_own_gradient():
    x, weight, samples = _problem()
    out, _, _ = _forward(
        dict(type='ProvenanceGradientLoss', loss_weight=1.0,
             mask_mode='unmasked'), x, weight, samples)
    # Sample 2 (unmixed, all-ones mask) has no synthetic content: the
    # control leaves it alone, as the true mask does.
    expected = weight[[0, 1, 3]].pow(2).sum(1).sum() / B
    torch.testing.assert_close(out['loss_pg'], expected)


def test_random_control_uses_a_random_mask_of_the_same_mean():
    x, weight, samples = _problem()
    mask = torch.stack([s.prov_mask for s in samples])
    torch.manual_seed(5)
    out, _, _ = _forward(
        dict(type='ProvenanceGradientLoss', loss_weight=1.0, mode='soft',
             mask_mode='random'), x, weight, samples)
    torch.manual_seed(5)
    random_mask = random_pixel_mask(_soft_only(mask))
    expected = _reference(x, weight, random_mask, torch.tensor([0, 1, 2, 3]),
                          LABEL_B, soft=SOFT)
    torch.testing.assert_close(out['loss_pg'], expected)
    # The diagnostic still measures against the true provenance.
    true_out, _, _ = _forward(
        dict(type='ProvenanceGradientLoss', loss_weight=1.0, mode='soft'),
        x, weight, samples)
    assert out['pg_outside_share'] == true_out['pg_outside_share']


def test_log_keys_ratio_and_outside_share():
    x, weight, samples = _problem()
    loss_cls = torch.tensor(2.0)
    out, _, _ = _forward(
        dict(type='ProvenanceGradientLoss', loss_weight=0.5, mode='hard'),
        x, weight, samples, loss_cls)
    assert [k for k in out if 'loss' in k] == ['loss_pg']
    torch.testing.assert_close(out['pg_ratio'], out['loss_pg'].detach() / 2)
    # Linear model: |grad f_A|^2 is w_A^2 on every pixel of each sample.
    mask = torch.stack([s.prov_mask for s in samples]).unsqueeze(1)
    energy = weight[[0, 1, 2, 3]].pow(2).view(B, C, H, W)
    expected = ((1 - mask) * energy).sum() / energy.sum()
    torch.testing.assert_close(out['pg_outside_share'], expected)


def test_linear_warmup_of_alpha_reads_message_hub_iter():
    x, weight, samples = _problem()
    hub = MessageHub.get_instance(f'test_provenance_warmup_{id(x)}')
    cfg = dict(type='ProvenanceGradientLoss', loss_weight=0.8,
               warmup_iters=10, mode='hard')
    full, _, _ = _forward(dict(cfg, warmup_iters=0), x, weight, samples)
    for cur_iter, factor in ((0, 0.0), (5, 0.5), (10, 1.0), (30, 1.0)):
        hub.update_info('iter', cur_iter)
        out, _, _ = _forward(cfg, x, weight, samples)
        assert out['pg_alpha'].item() == pytest.approx(0.8 * factor)
        torch.testing.assert_close(out['loss_pg'], full['loss_pg'] * factor)
        # The diagnostic is measured even while alpha is 0.
        torch.testing.assert_close(out['pg_outside_share'],
                                   full['pg_outside_share'])


def test_invalid_settings_and_missing_fields_are_refused():
    for bad in (dict(mode='mixed'), dict(mask_mode='box'),
                dict(target='prob'), dict(loss_weight=-1.0),
                dict(loss_name='pg')):
        with pytest.raises(ValueError, match='ProvenanceGradientLoss'):
            MODELS.build(dict(type='ProvenanceGradientLoss', **bad))
    x, weight, samples = _problem()
    with pytest.raises(ValueError, match='4 data samples for a batch of 3'):
        _forward(dict(type='ProvenanceGradientLoss'), x[:3], weight, samples)


def test_batch_without_provenance_names_the_preprocessor_to_use():
    # What mmpretrain's ClsDataPreprocessor + CutMix hands over: labels only.
    x, weight, _ = _problem()
    samples = [DataSample().set_gt_label(i) for i in range(B)]
    with pytest.raises(ValueError) as error:
        _forward(dict(type='ProvenanceGradientLoss'), x, weight, samples)
    assert str(error.value) == (
        "ProvenanceGradientLoss: the batch carries no provenance (data "
        "samples lack ['prov_mask', 'guidance', 'gt_label_b']). Use the data "
        "preprocessor dict(type='provmm.ProvenanceMixBatchAugment', "
        "augments=[dict(type='provmm.ProvenanceCutMix', alpha=1.0)]) (or "
        "provmm.ProvenanceResizeMix / DiffCoReMixPreprocessor) instead of "
        "ClsDataPreprocessor with mmpretrain's CutMix: only these record "
        "where each pixel comes from")


def test_batch_without_anything_to_penalise_skips_double_backprop():
    x, weight, samples = _problem()
    for i, sample in enumerate(samples):  # an unmixed batch of real images
        sample.mix_partner = i
        sample.gt_label_b = sample.gt_label
        sample.prov_mask = torch.ones(H, W)
        sample.guidance = 'none'
    out, _, _ = _forward(dict(type='ProvenanceGradientLoss', mode='auto'),
                         x, weight, samples, torch.tensor(1.0))
    assert out['loss_pg'].item() == 0 and not out['loss_pg'].requires_grad
    assert out['pg_outside_share'].item() == 0


def test_normalize_option_reaches_the_core():
    x, weight, samples = _problem()
    mask = torch.stack([s.prov_mask for s in samples])
    out, _, _ = _forward(
        dict(type='ProvenanceGradientLoss', loss_weight=2.0, mode='auto',
             normalize=True), x, weight, samples)
    inputs = x.clone().requires_grad_(True)
    logits = inputs.flatten(1) @ weight.t()
    expected = 2.0 * provenance_gradient_loss(
        inputs, logits, mask, torch.tensor([0, 1, 2, 3]), LABEL_B,
        normalize=True, soft=SOFT)
    torch.testing.assert_close(out['loss_pg'], expected)
    assert 0 < out['loss_pg'].item() < 2.0


def test_shifted_control_uses_the_rolled_true_mask():
    x, weight, samples = _problem()
    mask = torch.stack([s.prov_mask for s in samples])
    out, _, _ = _forward(
        dict(type='ProvenanceGradientLoss', loss_weight=1.0, mode='soft',
             mask_mode='shifted'), x, weight, samples)
    rolled = torch.roll(_soft_only(mask), (H // 2, W // 2), dims=(1, 2))
    expected = _reference(x, weight, rolled, torch.tensor([0, 1, 2, 3]),
                          LABEL_B, soft=SOFT)
    torch.testing.assert_close(out['loss_pg'], expected)


@pytest.mark.parametrize('cfg, two_sources', [
    (dict(mode='auto'), True), (dict(mode='hard'), False),
    (dict(mode='auto', mask_mode='unmasked'), False)])
def test_second_input_gradient_only_for_eq9(monkeypatch, cfg, two_sources):
    # Eq. 10 needs grad_x f_A only: a second gradient would cost a backward.
    import provmm.models.losses.provenance_gradient_loss as module
    seen = []
    original = module.provenance_input_gradients

    def recording(inputs, logits, label_a, label_b=None, *args, **kwargs):
        seen.append(label_b is not None)
        return original(inputs, logits, label_a, label_b, *args, **kwargs)

    monkeypatch.setattr(module, 'provenance_input_gradients', recording)
    x, weight, samples = _problem()
    _forward(dict(type='ProvenanceGradientLoss', **cfg), x, weight, samples)
    assert seen == [two_sources]


@pytest.fixture
def hub(request):
    """A fresh current MessageHub (``iter`` 0); left at ``iter`` 0."""
    message_hub = MessageHub.get_instance(
        f'test_provenance_iter_{request.node.name}')
    yield message_hub
    message_hub.update_info('iter', 0)


@pytest.mark.parametrize('scale_by_interval, factor', [(True, 4), (False, 1)])
def test_every_n_iters_guides_only_those_iterations(hub, scale_by_interval,
                                                    factor):
    x, weight, samples = _problem()
    base = dict(type='ProvenanceGradientLoss', loss_weight=0.3, mode='auto')
    full, _, _ = _forward(base, x, weight, samples, torch.tensor(2.0))
    module = MODELS.build(dict(base, every_n_iters=4,
                               scale_by_interval=scale_by_interval))
    for cur_iter in range(9):
        hub.update_info('iter', cur_iter)
        guided = cur_iter % 4 == 0
        assert module.guides_this_iteration() == guided
        # Unguided iterations need no input gradients at all.
        inputs = x.clone().requires_grad_(guided)
        out = module(inputs, inputs.flatten(1) @ weight.t(), samples,
                     torch.tensor(2.0))
        if guided:
            torch.testing.assert_close(out['loss_pg'],
                                       factor * full['loss_pg'])
            assert out['pg_outside_share'] == full['pg_outside_share']
        else:
            assert out['loss_pg'].item() == 0
            assert not out['loss_pg'].requires_grad
            assert set(out) == {'loss_pg', 'pg_alpha', 'pg_ratio'}
        assert out['pg_alpha'].item() == pytest.approx(0.3)


def _penalised_subset_losses(cfg, x, weight, samples, seeds):
    """{chosen sample indices: loss} over the draws of ``seeds``."""
    from provmm.provenance.gradient_loss import guided_subset
    penalised = torch.tensor([True, True, False, True])  # sample 2: none
    losses = {}
    for seed in seeds:
        torch.manual_seed(seed)
        out, _, _ = _forward(cfg, x, weight, samples)
        torch.manual_seed(seed)
        chosen, _ = guided_subset(penalised, cfg['subset_ratio'])
        key = tuple(chosen.nonzero().flatten().tolist())
        if key in losses:  # the same draw gives the same loss
            assert torch.equal(losses[key], out['loss_pg'])
        losses[key] = out['loss_pg']
    return losses


def test_subset_ratio_penalises_a_reweighted_random_subset():
    x, weight, samples = _problem()
    mask = torch.stack([s.prov_mask for s in samples])
    cfg = dict(type='ProvenanceGradientLoss', loss_weight=0.3, mode='auto',
               subset_ratio=0.25)  # 1 of the 3 penalised samples
    losses = _penalised_subset_losses(cfg, x, weight, samples, range(30))
    assert sorted(losses) == [(0, ), (1, ), (3, )]
    label_a = torch.tensor([0, 1, 2, 3])
    for (index, ), loss in losses.items():
        only = torch.zeros(B, dtype=torch.bool)
        only[index] = True
        restricted = torch.where(only.view(-1, 1, 1), mask,
                                 torch.ones_like(mask))
        expected = 3 * 0.3 * _reference(x, weight, restricted, label_a,
                                        LABEL_B, soft=SOFT & only)
        torch.testing.assert_close(loss, expected)
    # Unbiased: the mean over the equally likely draws is the full loss.
    full, _, _ = _forward(dict(cfg, subset_ratio=1.0), x, weight, samples)
    torch.testing.assert_close(sum(losses.values()) / 3, full['loss_pg'])


def test_subset_ratio_keeps_at_least_one_sample_and_is_seeded():
    x, weight, samples = _problem()
    cfg = dict(type='ProvenanceGradientLoss', subset_ratio=0.01)
    losses = _penalised_subset_losses(cfg, x, weight, samples, [7, 7, 8])
    assert all(len(key) == 1 for key in losses)
    assert all(loss.item() > 0 for loss in losses.values())


def test_auto_weight_first_step_gives_the_target_ratio(hub):
    x, weight, samples = _problem()
    cfg = dict(type='ProvenanceGradientLoss', loss_weight='auto',
               target_ratio=0.25, mode='hard')
    out, _, _ = _forward(cfg, x, weight, samples, torch.tensor(2.0))
    torch.testing.assert_close(out['pg_ratio'], torch.tensor(0.25))
    unweighted, _, _ = _forward(dict(type='ProvenanceGradientLoss',
                                     loss_weight=1.0, mode='hard'),
                                x, weight, samples)
    torch.testing.assert_close(out['pg_alpha'],
                               0.25 * 2.0 / unweighted['loss_pg'])
    # With warm-up the adapted alpha is scaled like a fixed one.
    hub.update_info('iter', 5)
    warm, _, _ = _forward(dict(cfg, warmup_iters=10), x, weight, samples,
                          torch.tensor(2.0))
    torch.testing.assert_close(warm['pg_ratio'], torch.tensor(0.125))
    with pytest.raises(ValueError) as error:
        _forward(cfg, x, weight, samples)
    assert str(error.value) == ("ProvenanceGradientLoss: loss_weight='auto' "
                                'needs loss_cls to adapt alpha')


def test_auto_weight_is_restored_from_a_state_dict():
    x, weight, samples = _problem()
    cfg = dict(type='ProvenanceGradientLoss', loss_weight='auto',
               ratio_momentum=0.9)
    trained, resumed = MODELS.build(cfg), MODELS.build(cfg)

    def step(module, loss_cls):
        inputs = x.clone().requires_grad_(True)
        return module(inputs, inputs.flatten(1) @ weight.t(), samples,
                      torch.tensor(loss_cls))

    for loss_cls in (2.0, 1.5, 1.2):
        step(trained, loss_cls)
    state = trained.state_dict()
    assert set(state) == {f'alpha_controller.{name}' for name in (
        'mean_cls', 'mean_pg', 'alpha', 'count', 'target')}
    # the batch holds mixed samples: the mixing ratio, kept on resume
    assert state['alpha_controller.target'].item() == 0.03
    assert trained.current_weight() == float(state['alpha_controller.alpha'])
    resumed.load_state_dict(state)
    expected = step(trained, 0.9)
    got = step(resumed, 0.9)
    assert torch.equal(got['pg_alpha'], expected['pg_alpha'])
    assert torch.equal(got['loss_pg'], expected['loss_pg'])
    assert MODELS.build(dict(type='ProvenanceGradientLoss')).state_dict() == {}


@pytest.mark.parametrize('bad, message', [
    (dict(loss_weight='adaptive'), "loss_weight must be a number >= 0 or "
     "'auto', got 'adaptive'"),
    (dict(every_n_iters=0), 'every_n_iters must be an integer >= 1, got 0'),
    (dict(every_n_iters=2.0), 'every_n_iters must be an integer >= 1, got '
     '2.0'),
    (dict(subset_ratio=0), 'subset_ratio must be in (0, 1], got 0'),
    (dict(subset_ratio=1.5), 'subset_ratio must be in (0, 1], got 1.5'),
    (dict(bn_statistics='frozen'), "bn_statistics must be one of ('batch', "
     "'detached'), got 'frozen'"),
    (dict(loss_weight='auto', target_ratio=0), 'need target_ratio None or > '
     '0, 0 <= ratio_momentum < 1 and 0 <= alpha_min <= alpha_max, got 0, '
     '0.99, 0.0 and 1000.0'),
    (dict(alpha_min=2.0, alpha_max=1.0), 'need target_ratio None or > 0, 0 '
     '<= ratio_momentum < 1 and 0 <= alpha_min <= alpha_max, got None, '
     '0.99, 2.0 and 1.0'),
])
def test_cheaper_and_self_tuning_options_are_validated(bad, message):
    with pytest.raises(ValueError) as error:
        MODELS.build(dict(type='ProvenanceGradientLoss', **bad))
    assert str(error.value) == 'ProvenanceGradientLoss: ' + message


def test_auto_alpha_can_be_held_after_a_calibration():
    loss = MODELS.build(dict(type='ProvenanceGradientLoss', loss_weight='auto',
                             ratio_update_iters=3))
    assert loss.alpha_controller.update_iters == 3
    default = MODELS.build(dict(type='ProvenanceGradientLoss',
                                loss_weight='auto')).alpha_controller
    assert (default.target_ratio, default.update_iters) == (None, 50)
    assert MODELS.build(dict(type='ProvenanceGradientLoss', loss_weight='auto',
                             ratio_update_iters=None)
                        ).alpha_controller.update_iters is None


@pytest.mark.parametrize('edited_only', [False, True])
def test_auto_weight_target_ratio_follows_the_synthesis(hub, edited_only):
    """Mixed samples (Eq. 9) in the batch: rho = 0.03; edited samples only
    (Eq. 10): rho = 0.2. Chosen once, then kept."""
    x, weight, samples = _problem()
    if edited_only:
        samples = samples[2:]
        x = x[2:]
    module = MODELS.build(dict(type='ProvenanceGradientLoss',
                               loss_weight='auto'))
    assert 'pg_target_ratio' not in module.outputs(
        torch.zeros(()), 0.0, torch.tensor(1.0))
    inputs = x.clone().requires_grad_(True)
    out = module(inputs, inputs.flatten(1) @ weight.t(), samples,
                 torch.tensor(2.0))
    rho = 0.2 if edited_only else 0.03
    assert out['pg_target_ratio'].item() == pytest.approx(rho)
    torch.testing.assert_close(out['pg_ratio'], torch.tensor(rho))
    # an explicit ratio is kept whatever the batch holds
    explicit = MODELS.build(dict(type='ProvenanceGradientLoss',
                                 loss_weight='auto', target_ratio=0.5))
    inputs = x.clone().requires_grad_(True)
    out = explicit(inputs, inputs.flatten(1) @ weight.t(), samples,
                   torch.tensor(2.0))
    torch.testing.assert_close(out['pg_ratio'], torch.tensor(0.5))
