"""Class activation maps (Zhou et al., CVPR 2016; wsolevaluation's CAM)."""
import torch


def _check_feature_map(feature_map: torch.Tensor) -> None:
    if feature_map.dim() != 4:
        raise ValueError('feature_map must be (B, C, h, w), got shape '
                         f'{tuple(feature_map.shape)}')


def _labels_of(maps: torch.Tensor, labels) -> torch.Tensor:
    """``labels`` as a long tensor on ``maps``' device, one per sample."""
    labels = torch.as_tensor(labels, device=maps.device).long()
    if labels.shape != maps.shape[:1]:
        raise ValueError(f'labels must be ({maps.shape[0]},), got '
                         f'shape {tuple(labels.shape)}')
    return labels


def class_activation_map(feature_map: torch.Tensor, fc_weight: torch.Tensor,
                         labels: torch.Tensor) -> torch.Tensor:
    """CAM of one class per sample: ``mean_c(w[y, c] * F[c])``.

    As in wsolevaluation (docs/metrics/wsol.md): mean over channels, no ReLU, no
    bias, at feature resolution; resizing and normalisation belong to the
    metric.

    Args:
        feature_map: ``(B, C, h, w)`` last feature map before global average
            pooling.
        fc_weight: ``(num_classes, C)`` weight of the linear classifier.
        labels: ``(B,)`` class index per sample.

    Returns:
        ``(B, h, w)`` maps.
    """
    _check_feature_map(feature_map)
    if fc_weight.dim() != 2 or fc_weight.shape[1] != feature_map.shape[1]:
        raise ValueError(
            f'fc_weight must be (num_classes, C={feature_map.shape[1]}), '
            f'got shape {tuple(fc_weight.shape)}')
    labels = _labels_of(feature_map, labels)
    weights = fc_weight[labels].to(feature_map.dtype)  # (B, C)
    return (weights[:, :, None, None] * feature_map).mean(dim=1)


def conv_class_activation_map(class_maps: torch.Tensor,
                              labels: torch.Tensor) -> torch.Tensor:
    """CAM of a convolutional class head (``ConvPoolClsHead``): channel
    ``y`` of the head's class maps ``conv(F)``, the class's scores per
    position before the average that makes its logit (bias included: a
    constant shift, which the metric's min-max normalisation removes).

    Like :func:`class_activation_map`: no ReLU, at feature resolution;
    with a 1 x 1 kernel it is ``C * class_activation_map + b[y]``.

    Args:
        class_maps: ``(B, K, h, w)`` from ``ConvPoolClsHead.class_maps``.
        labels: ``(B,)`` class index per sample.

    Returns:
        ``(B, h, w)`` maps.
    """
    labels = _labels_of(class_maps, labels)
    return class_maps[torch.arange(len(labels), device=labels.device), labels]
