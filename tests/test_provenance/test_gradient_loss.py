"""L_PG (Eq. 9 / Eq. 10) against closed forms on a linear model, gradcheck
through the double backward, mask broadcasting and FP32 under autocast."""
import pytest
import torch

from provmm.provenance.gradient_loss import (outside_provenance_share,
                                             provenance_gradient_loss,
                                             selected_outputs)

B, C, H, W, K = 4, 2, 3, 3, 5
D = C * H * W


def _linear_problem(dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, H, W, generator=generator, dtype=dtype)
    weight = torch.randn(K, D, generator=generator, dtype=dtype)
    bias = torch.randn(K, generator=generator, dtype=dtype)
    mask = (torch.rand(B, H, W, generator=generator) > 0.4).to(dtype)
    label_a = torch.tensor([0, 1, 2, 3])
    label_b = torch.tensor([4, 2, 0, 1])
    return x, weight, bias, mask, label_a, label_b


def _linear_loss(x, weight, bias, mask, label_a, label_b, target):
    inputs = x.clone().requires_grad_(True)
    logits = inputs.flatten(1) @ weight.t() + bias
    return provenance_gradient_loss(inputs, logits, mask, label_a, label_b,
                                    target)


def _closed_form_input_gradient(weight, bias, x, label, target):
    """grad_x f_label of the linear model, written out (K, D) -> (B, D)."""
    logits = x.flatten(1) @ weight.t() + bias
    own = weight[label]
    if target == 'logit':
        return own
    if target == 'log_softmax':
        # d/dx (z_c - logsumexp z) = w_c - sum_k p_k w_k
        return own - logits.softmax(1) @ weight
    # margin: d/dx (z_c - logsumexp_{k != c} z_k) = w_c - sum_{k!=c} q_k w_k
    others = logits.scatter(1, label.view(-1, 1), float('-inf'))
    return own - others.softmax(1) @ weight


def _closed_form_loss(x, weight, bias, mask, label_a, label_b, target):
    m = mask.unsqueeze(1).expand(B, C, H, W).flatten(1)
    grad_a = _closed_form_input_gradient(weight, bias, x, label_a, target)
    if label_b is None:
        residual = (1 - m) * grad_a
    else:
        grad_b = _closed_form_input_gradient(weight, bias, x, label_b, target)
        residual = (1 - m) * grad_a + m * grad_b
    return residual.pow(2).sum(1).mean()


@pytest.mark.parametrize('target', ['logit', 'log_softmax', 'margin'])
@pytest.mark.parametrize('soft', [True, False])
def test_loss_and_weight_gradient_match_linear_model_closed_form(
        target, soft):
    x, weight, bias, mask, label_a, label_b = _linear_problem()
    label_b = label_b if soft else None
    weight = weight.clone().requires_grad_(True)
    loss = _linear_loss(x, weight, bias, mask, label_a, label_b, target)
    (grad_weight, ) = torch.autograd.grad(loss, weight)

    reference_weight = weight.detach().clone().requires_grad_(True)
    reference = _closed_form_loss(x, reference_weight, bias, mask, label_a,
                                  label_b, target)
    (reference_grad, ) = torch.autograd.grad(reference, reference_weight)
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(grad_weight, reference_grad)


def test_logit_target_weight_gradient_is_explicit_formula():
    # L = mean_i ||(1-M_i) w_A + M_i w_B||^2, so dL/dw_A = 2/B (1-M_i) v_i and
    # dL/dw_B = 2/B M_i v_i with v_i the residual of sample i.
    x, weight, bias, mask, label_a, label_b = _linear_problem()
    weight = weight.clone().requires_grad_(True)
    loss = _linear_loss(x, weight, bias, mask, label_a, label_b, 'logit')
    (grad_weight, ) = torch.autograd.grad(loss, weight)
    m = mask.unsqueeze(1).expand(B, C, H, W).flatten(1)
    expected = torch.zeros_like(weight)
    w = weight.detach()
    for i in range(B):
        residual = (1 - m[i]) * w[label_a[i]] + m[i] * w[label_b[i]]
        expected[label_a[i]] += 2 / B * (1 - m[i]) * residual
        expected[label_b[i]] += 2 / B * m[i] * residual
    torch.testing.assert_close(grad_weight, expected)


@pytest.mark.parametrize('normalize', [False, True])
def test_gradcheck_through_double_backward_of_tanh_mlp(normalize):
    torch.manual_seed(0)
    x = torch.randn(3, 2, 2, 2, dtype=torch.float64)
    mask = (torch.rand(3, 2, 2) > 0.5).double()
    label_a, label_b = torch.tensor([0, 1, 2]), torch.tensor([1, 0, 0])
    soft = torch.tensor([True, False, True])
    w1 = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)

    def loss_of_weights(w1, w2):
        inputs = x.clone().requires_grad_(True)
        logits = torch.tanh(inputs.flatten(1) @ w1.t()) @ w2.t()
        return provenance_gradient_loss(inputs, logits, mask, label_a,
                                        label_b, target='margin',
                                        normalize=normalize,
                                        soft=soft).double()

    assert torch.autograd.gradcheck(loss_of_weights, (w1, w2))


def test_mask_with_and_without_channel_axis_agree():
    x, weight, bias, mask, label_a, label_b = _linear_problem()
    without = _linear_loss(x, weight, bias, mask, label_a, label_b, 'logit')
    with_axis = _linear_loss(x, weight, bias,
                             mask.unsqueeze(1).expand(B, C, H, W), label_a,
                             label_b, 'logit')
    torch.testing.assert_close(without, with_axis)


def test_hard_samples_with_an_all_ones_mask_add_nothing():
    # Not mixed, or mixed with the own class: nothing is foreign (M = 1).
    x, weight, bias, _, label_a, label_b = _linear_problem()
    inputs = x.clone().requires_grad_(True)
    loss = provenance_gradient_loss(
        inputs, inputs.flatten(1) @ weight.t() + bias, torch.ones(B, H, W),
        label_a, label_b, soft=torch.zeros(B, dtype=torch.bool))
    assert loss.item() == 0


def test_literal_eq9_with_equal_labels_penalises_the_whole_gradient():
    x, weight, bias, mask, label_a, _ = _linear_problem()
    loss = _linear_loss(x, weight, bias, mask, label_a, label_a, 'logit')
    expected = weight[label_a].pow(2).sum(1).mean()
    torch.testing.assert_close(loss, expected)


def test_soft_flag_chooses_eq9_or_eq10_per_sample():
    x, weight, bias, mask, label_a, label_b = _linear_problem()
    inputs = x.clone().requires_grad_(True)
    soft = torch.tensor([True, False, True, True])
    loss = provenance_gradient_loss(
        inputs, inputs.flatten(1) @ weight.t() + bias, mask, label_a,
        label_b, soft=soft)
    # Per-sample terms: sample 1 from Eq. 10, the others from Eq. 9.
    per_soft = _per_sample(x, weight, bias, mask, label_a, label_b)
    per_hard = _per_sample(x, weight, bias, mask, label_a, None)
    expected = (per_soft.sum() - per_soft[1] + per_hard[1]) / B
    torch.testing.assert_close(loss, expected)
    assert per_soft[1] != per_hard[1]


def _per_sample(x, weight, bias, mask, label_a, label_b):
    m = mask.unsqueeze(1).expand(B, C, H, W).flatten(1)
    residual = (1 - m) * weight[label_a]
    if label_b is not None:
        residual = residual + m * weight[label_b]
    return residual.pow(2).sum(1)


def test_loss_is_fp32_under_bf16_autocast():
    x, weight, bias, mask, label_a, label_b = _linear_problem(torch.float32)
    conv = torch.nn.Conv2d(C, 4, 3, padding=1)
    head = torch.nn.Linear(4 * H * W, K)

    def loss_under(autocast):
        inputs = x.clone().requires_grad_(True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            logits = head(torch.tanh(conv(inputs)).flatten(1))
            return logits.dtype, provenance_gradient_loss(
                inputs, logits, mask, label_a, label_b, 'log_softmax')

    logits_dtype, loss = loss_under(True)
    _, reference = loss_under(False)
    assert logits_dtype == torch.bfloat16
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, reference, rtol=0.05, atol=0)


def test_selected_outputs_targets_closed_form():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    label = torch.tensor([1])
    z = logits[0]
    assert selected_outputs(logits, label, 'logit').item() == 2.0
    torch.testing.assert_close(
        selected_outputs(logits, label, 'log_softmax'),
        (z[1] - torch.logsumexp(z, 0)).view(1))
    torch.testing.assert_close(
        selected_outputs(logits, label, 'margin'),
        (z[1] - torch.logsumexp(z[[0, 2]], 0)).view(1))


def test_outside_share_is_zero_inside_and_one_minus_lam_for_uniform():
    mask = torch.zeros(1, 4, 4)
    mask[:, :, :2] = 1
    inside = mask.unsqueeze(1).repeat(1, 3, 1, 1)
    assert outside_provenance_share(inside, mask).item() == 0
    uniform = torch.ones(1, 3, 4, 4)
    assert outside_provenance_share(uniform, mask).item() == pytest.approx(0.5)


def test_bad_shapes_and_missing_requires_grad_raise_clear_errors():
    x, weight, bias, mask, label_a, label_b = _linear_problem()
    logits = x.flatten(1) @ weight.t()
    with pytest.raises(ValueError, match='requires_grad'):
        provenance_gradient_loss(x, logits, mask, label_a, label_b)
    inputs = x.clone().requires_grad_(True)
    logits = inputs.flatten(1) @ weight.t()
    with pytest.raises(ValueError, match='mask must have'):
        provenance_gradient_loss(inputs, logits, mask[:, :2], label_a)
    with pytest.raises(ValueError, match='label_b must be'):
        provenance_gradient_loss(inputs, logits, mask, label_a, label_b[:2])
    with pytest.raises(ValueError, match=r'label_b must hold class indices '
                       r'in \[0, 5\), got \[4, -1, 0, 1\]'):
        provenance_gradient_loss(inputs, logits, mask, label_a,
                                 torch.tensor([4, -1, 0, 1]))
    with pytest.raises(ValueError, match='soft marks Eq. 9 samples and '
                       'needs label_b'):
        provenance_gradient_loss(inputs, logits, mask, label_a,
                                 soft=torch.ones(B, dtype=torch.bool))
    with pytest.raises(ValueError, match='target must be'):
        provenance_gradient_loss(inputs, logits, mask, label_a, None, 'prob')


@pytest.mark.parametrize('soft', [True, False])
def test_normalized_loss_is_the_foreign_energy_share_in_closed_form(soft):
    # Linear model, logit target: grad_x f_c = w_c, so the share of sample i
    # is ||(1-M_i) w_A + M_i w_B||^2 / (||w_A||^2 + ||w_B||^2) (soft) or
    # ||(1-M_i) w_A||^2 / ||w_A||^2 (hard).
    x, weight, bias, mask, label_a, label_b = _linear_problem()
    label_b = label_b if soft else None
    weight = weight.clone().requires_grad_(True)
    inputs = x.clone().requires_grad_(True)
    logits = inputs.flatten(1) @ weight.t() + bias
    loss = provenance_gradient_loss(inputs, logits, mask, label_a, label_b,
                                    'logit', normalize=True)
    (grad_weight, ) = torch.autograd.grad(loss, weight)

    w = weight.detach().clone().requires_grad_(True)
    m = mask.unsqueeze(1).expand(B, C, H, W).flatten(1)
    shares = []
    for i in range(B):
        own = w[label_a[i]]
        if soft:
            other = w[label_b[i]]
            outside = ((1 - m[i]) * own + m[i] * other).pow(2).sum()
            shares.append(outside / (own.pow(2).sum() + other.pow(2).sum()))
        else:
            shares.append(((1 - m[i]) * own).pow(2).sum() / own.pow(2).sum())
    reference = torch.stack(shares).mean()
    (reference_grad, ) = torch.autograd.grad(reference, w)
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(grad_weight, reference_grad)


def test_normalized_loss_ignores_the_scale_of_the_gradients():
    x, weight, bias, mask, label_a, label_b = _linear_problem()
    losses = []
    for scale in (1.0, 1e-3):
        inputs = x.clone().requires_grad_(True)
        logits = scale * (inputs.flatten(1) @ weight.t()) + bias
        losses.append(provenance_gradient_loss(
            inputs, logits, mask, label_a, None, 'logit', normalize=True))
    torch.testing.assert_close(losses[0], losses[1])
    # a model without any input gradient has no foreign share (not NaN)
    inputs = x.clone().requires_grad_(True)
    logits = 0 * inputs.flatten(1)[:, :K] + bias
    zero = provenance_gradient_loss(inputs, logits, mask, label_a, None,
                                    'logit', normalize=True)
    assert zero.item() == 0

