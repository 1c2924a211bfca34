"""SkeletonPointNet / SkeletonPointRecognizer: padded points never win, the
pooling switch, BatchMix + L_PG on X~ wired as the core computes it, a full
train_step with the registered model and preprocessor, and gradcheck of the
double backward."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from provmm.models.backbones.skeleton_point_net import instance_validity
from provmm.models.classifiers.skeleton_point_recognizer import instance_max
from provmm.provenance import provenance_gradient_loss, skeleton_batchmix
from provmm.registry import MODELS

B, P, T, V, K = 4, 2, 3, 5, 3


def _skeletons(batch=B, persons=P, frames=T, joints=V, seed=0,
               dtype=torch.float32):
    """Random skeletons; sample 1's person 1 is padding (score 0)."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.rand(batch, persons, frames, joints, 3,
                        generator=generator, dtype=dtype) * 2 - 1
    inputs[..., 2] = inputs[..., 2].abs() * 0.9 + 0.1
    inputs[1, 1] = 0
    return inputs


def _backbone(**kwargs):
    cfg = dict(type='SkeletonPointNet', num_joints=V, embed_dims=4,
               num_blocks=2)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _model(mil_pooling='feature', provenance=True, batch_mix=True,
           **kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='provmm.SkeletonPointRecognizer',
        backbone=dict(type='SkeletonPointNet', num_joints=V, embed_dims=4),
        num_classes=K,
        batch_mix=dict(type='SkeletonBatchMix') if batch_mix else None,
        provenance_loss=dict(type='ProvenanceGradientLoss', loss_weight=1.0)
        if provenance else None,
        mil_pooling=mil_pooling, **kwargs))


def _samples(labels=(0, 1, 2, 0)):
    return [DataSample().set_gt_label(label) for label in labels]


# padding -------------------------------------------------------------------

@pytest.mark.parametrize('train', [True, False])
def test_padded_points_never_change_the_features(train):
    net = _backbone().train(train)
    inputs = _skeletons()
    inputs[0, 0, 1, 2, 2] = 0  # one missing joint of a real person
    reference = net(inputs)
    poisoned = inputs.clone()
    poisoned[0, 0, 1, 2, :2] = 1e6  # huge coordinates, score 0
    poisoned[1, 1, :, :, :2] = -1e6  # the padded person too
    torch.testing.assert_close(net(poisoned), reference)
    # the same point with a score would change them: the check can fail
    poisoned[0, 0, 1, 2, 2] = 0.5
    assert not torch.allclose(net(poisoned), reference)


@pytest.mark.parametrize('context', ['video', 'person', 'none'])
def test_context_decides_which_other_skeletons_change_a_skeletons_feature(
        context):
    """Moving person 1 changes person 0's features through the context
    half only: always with 'video', never with 'person' or 'none'; moving
    person 0 in another frame changes them with 'video' and 'person'."""
    net = _backbone(context=context).eval()
    assert net.out_channels == 4 * (1 if context == 'none' else 4)
    inputs = _skeletons()
    reference = net(inputs)[0, 0, 0]
    other_person = inputs.clone()
    other_person[0, 1, :, :, :2] *= 8  # large enough to win some maxima
    other_frame = inputs.clone()
    other_frame[0, 0, 2, :, :2] *= 8
    changed = {
        'other person': not torch.allclose(net(other_person)[0, 0, 0],
                                           reference),
        'own person, other frame': not torch.allclose(
            net(other_frame)[0, 0, 0], reference)
    }
    assert changed == {
        'video': {'other person': True, 'own person, other frame': True},
        'person': {'other person': False, 'own person, other frame': True},
        'none': {'other person': False, 'own person, other frame': False},
    }[context]


def test_unknown_context_is_named():
    with pytest.raises(ValueError, match="context must be one of \\('video', "
                       "'person', 'none'\\), got 'track'"):
        _backbone(context='track')


def test_padded_instances_and_samples_are_zero_and_finite():
    net = _backbone()
    inputs = _skeletons()
    inputs[2] = 0  # a sample without any real point
    features = net(inputs)
    assert features.shape == (B, P, T, 4 * 2**2)
    assert torch.isfinite(features).all()
    assert (features[1, 1] == 0).all() and (features[2] == 0).all()
    assert features[0].abs().sum() > 0
    # the pooling gives zeros, never -inf, to a sample without instances
    valid = instance_validity(inputs)
    pooled = instance_max(features - 5, valid)
    assert (pooled[2] == 0).all() and torch.isfinite(pooled).all()
    # a padded instance never wins the max, even against negative features
    torch.testing.assert_close(pooled[1], (features[1, 0] - 5).amax(0))


def test_wrong_input_shapes_are_named():
    net = _backbone()
    with pytest.raises(ValueError, match=r'\(B, P, T, V, 3\)'):
        net(torch.zeros(B, P, T, V, 2))
    with pytest.raises(ValueError, match='V=5'):
        net(torch.zeros(B, P, T, V + 1, 3))


# pooling switch --------------------------------------------------------------

def test_score_pooling_video_score_is_max_of_instance_scores():
    model = _model('score').eval()
    inputs = _skeletons()
    features, valid = model.extract_feat(inputs)
    video = model.video_logits(features, valid)
    instances = model(inputs, mode='tensor')  # pooling off
    assert instances.shape == (B, P, T, K)
    assert torch.isinf(instances[1, 1]).all()  # padded: -inf
    torch.testing.assert_close(video, instances.amax(dim=(1, 2)))


def test_feature_pooling_video_score_is_head_of_max_feature():
    model = _model('feature').eval()
    inputs = _skeletons()
    features, valid = model.extract_feat(inputs)
    video = model.video_logits(features, valid)
    instances = model(inputs, mode='tensor')
    # exact: the head applied to the max over the real instances
    pooled = torch.stack([features[i][valid[i]].amax(0) for i in range(B)])
    torch.testing.assert_close(video, model.head(pooled))
    # a single real instance: the video score is that instance's score
    single = inputs.clone()
    single[:, 1] = 0
    single[:, 0, 1:] = 0
    video_single = model.video_logits(*model.extract_feat(single))
    torch.testing.assert_close(video_single,
                               model(single, mode='tensor').amax((1, 2)))
    # weights >= 0: an upper bound of the instance scores' max, not equal
    with torch.no_grad():
        model.head.weight.abs_()
    video = model.video_logits(features, valid)
    best = model(inputs, mode='tensor').amax((1, 2))
    assert (video >= best - 1e-6).all()
    assert (video > best + 1e-6).any()


def test_predict_writes_instance_scores_and_respects_person_valid():
    model = _model().eval()
    inputs = _skeletons()
    samples = _samples()
    for sample in samples:
        person_valid = torch.ones(P, T, dtype=torch.bool)
        person_valid[0, 0] = False
        sample.set_field(person_valid, 'person_valid')
        sample.set_field(torch.rand(P, T, 4), 'person_boxes')
        sample.set_field('video', 'video_name', field_type='metainfo')
    boxes = [sample.person_boxes for sample in samples]
    with torch.no_grad():
        out = model.test_step(dict(inputs=list(inputs), data_samples=samples))
    for index, sample in enumerate(out):
        assert sample.instance_scores.shape == (P, T, K)
        # What FrameAP / VideoAP read: sigmoid scores, 0 where padded.
        real = sample.instance_valid
        assert torch.equal(sample.person_valid, real)
        assert sample.pred_boxes is boxes[index]
        torch.testing.assert_close(
            sample.pred_scores[real], sample.instance_scores[real].sigmoid())
        assert (sample.pred_scores[~real] == 0).all()
        assert torch.isinf(sample.instance_scores[0, 0]).all()
        assert not sample.instance_valid[0, 0]
        assert torch.isfinite(sample.instance_scores[0, 1]).all()
        torch.testing.assert_close(sample.pred_score.sum(), torch.tensor(1.))
        assert sample.video_name == 'video'
    assert torch.isinf(out[1].instance_scores[1]).all()


# training ------------------------------------------------------------------

def test_loss_pg_is_core_l_pg_on_mixed_features():
    model = _model(provenance=True).eval()  # BN fixed: same X twice
    inputs = _skeletons()
    samples = _samples()
    for sample in samples:
        sample.set_gt_score(torch.eye(K)[sample.gt_label[0]])
    torch.manual_seed(5)
    losses = model.loss(inputs, samples)

    torch.manual_seed(5)
    partner = torch.randperm(B)
    features, valid = model.extract_feat(inputs)
    mixed = skeleton_batchmix(features, partner)
    guided = mixed.inputs.permute(0, 3, 1, 2)
    logits = model.video_logits(guided.permute(0, 2, 3, 1),
                                torch.where(mixed.mask > 0, valid,
                                            valid[partner]))
    label_a = torch.tensor([0, 1, 2, 0])
    soft = label_a != label_a[partner]
    mask = torch.where(soft.view(-1, 1, 1), mixed.mask,
                       torch.ones_like(mixed.mask))
    expected = provenance_gradient_loss(guided, logits, mask, label_a,
                                        label_a[partner], soft=soft)
    torch.testing.assert_close(losses['loss_pg'], expected)
    for i, sample in enumerate(samples):
        assert sample.prov_mask.shape == (P, T)
        assert sample.guidance == ('soft' if soft[i] else 'none')
        assert sample.mix_partner == int(partner[i])


def test_loss_pg_trains_the_head_not_the_backbone():
    model = _model().train()
    samples = _samples((0, 1, 2, 1))
    torch.manual_seed(1)
    loss_pg = model.loss(_skeletons(), samples)['loss_pg']
    assert loss_pg > 0
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss_pg, list(params.values()),
                                allow_unused=True)
    by_name = dict(zip(params, grads))
    assert by_name['head.weight'].abs().sum() > 0
    backbone = [g for n, g in by_name.items() if n.startswith('backbone.')]
    assert all(g is None or g.abs().sum() == 0 for g in backbone)


def test_train_step_end_to_end_with_registered_model_and_preprocessor():
    model = _model()
    assert type(model.data_preprocessor).__name__ == \
        'SkeletonDataPreprocessor'
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(),
                                                 lr=0.1))
    head_before = model.head.weight.detach().clone()
    torch.manual_seed(2)
    data = dict(inputs=list(_skeletons(batch=6, seed=3)),
                data_samples=_samples((0, 1, 2, 0, 1, 2)))
    log_vars = model.train_step(data, optim_wrapper)
    assert {'loss', 'loss_cls', 'loss_pg', 'pg_ratio'} <= set(log_vars)
    assert all(torch.isfinite(v).all() for v in log_vars.values())
    assert log_vars['loss_pg'] > 0
    assert any(s.guidance == 'soft' for s in data['data_samples'])
    assert not torch.equal(model.head.weight, head_before)
    # plain BatchMix (no guidance) and no mixing train too
    for kwargs in (dict(provenance=False), dict(batch_mix=False)):
        plain = _model(**kwargs)
        data = dict(inputs=list(_skeletons(seed=4)), data_samples=_samples())
        log_vars = plain.train_step(data, OptimWrapper(
            torch.optim.SGD(plain.parameters(), lr=0.1)))
        assert torch.isfinite(log_vars['loss'])


@pytest.mark.parametrize('mask_mode', ['random', 'unmasked', 'shifted'])
def test_control_masks_work_on_person_frame_masks(mask_mode):
    model = _model(provenance=False)
    model.provenance_loss = MODELS.build(dict(
        type='ProvenanceGradientLoss', loss_weight=1.0, mask_mode=mask_mode))
    samples = _samples((0, 1, 2, 1))
    torch.manual_seed(1)
    losses = model.loss(_skeletons(), samples)
    assert torch.isfinite(losses['loss_pg']) and losses['loss_pg'] > 0


def test_preprocessor_stacks_casts_and_makes_one_hot_scores():
    model = _model()
    inputs = [x.double() for x in _skeletons()]
    out = model.data_preprocessor(dict(inputs=inputs,
                                       data_samples=_samples()), True)
    assert out['inputs'].shape == (B, P, T, V, 3)
    assert out['inputs'].dtype == torch.float32
    scores = torch.stack([s.gt_score for s in out['data_samples']])
    torch.testing.assert_close(scores, torch.eye(K)[[0, 1, 2, 0]])
    with pytest.raises(ValueError, match='same'):
        model.data_preprocessor(dict(inputs=[torch.zeros(P, T, V, 3),
                                             torch.zeros(P, T + 1, V, 3)]))
    with pytest.raises(ValueError, match=r'\(B, P, T, V, 3\)'):
        model.data_preprocessor(dict(inputs=torch.zeros(B, T, V, 3)))


# double backward -------------------------------------------------------------

def test_gradcheck_guidance_on_mixed_features_float64():
    torch.manual_seed(0)
    net = _backbone(embed_dims=2, num_blocks=1).double().eval()
    inputs = _skeletons(batch=3, frames=2, joints=V, dtype=torch.float64)
    partner = torch.tensor([1, 2, 0])
    label_a, label_b = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])
    with torch.no_grad():
        mixed = skeleton_batchmix(net(inputs), partner)
    valid = torch.where(mixed.mask > 0, instance_validity(inputs),
                        instance_validity(inputs)[partner])
    features = mixed.inputs.detach()

    def guided_loss(weight, bias, pooling):
        guided = features.permute(0, 3, 1, 2).clone().requires_grad_(True)
        x = guided.permute(0, 2, 3, 1)
        if pooling == 'feature':
            logits = instance_max(x, valid) @ weight.t() + bias
        else:
            logits = instance_max(x @ weight.t() + bias, valid)
        return provenance_gradient_loss(guided, logits, mixed.mask, label_a,
                                        label_b, target='log_softmax')

    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(K, features.shape[-1], generator=generator,
                         dtype=torch.float64, requires_grad=True)
    bias = torch.randn(K, generator=generator, dtype=torch.float64,
                       requires_grad=True)
    for pooling in ('feature', 'score'):
        assert torch.autograd.gradcheck(
            lambda w, b: guided_loss(w, b, pooling), (weight, bias))


def test_gradgradcheck_backbone_float64():
    net = _backbone(embed_dims=2, num_blocks=2).double().train()
    inputs = _skeletons(batch=2, frames=2, joints=V, dtype=torch.float64)
    scores = inputs[..., 2:].clone()  # scores fixed (padding stays padding)
    coords = inputs[..., :2].clone().requires_grad_(True)

    def features(xy):
        return net(torch.cat([xy, scores], dim=-1))

    assert torch.autograd.gradcheck(features, (coords, ))
    assert torch.autograd.gradgradcheck(features, (coords, ))


def test_benchmark_tool_times_both_variants_against_plain():
    import importlib.util
    import os.path as osp
    path = osp.join(osp.dirname(__file__), '..', '..', 'tools',
                    'benchmark_batchmix_guidance.py')
    spec = importlib.util.spec_from_file_location('benchmark_batchmix', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    results = tool.main(['--batch-size', '4', '--frames', '4', '--joints',
                         str(V), '--embed-dims', '4', '--num-classes', '3',
                         '--rounds', '2', '--warmup', '0', '--no-memory'])
    assert list(results) == ['plain', 'guided']
    assert results['plain']['wall_ratio'] == 1
    assert all(r['wall'] > 0 for r in results.values())
