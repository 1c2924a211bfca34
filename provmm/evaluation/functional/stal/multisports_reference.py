"""A slow, literal port of mmaction2's MultiSports evaluation
(``mmaction/evaluation/functional/multisports_utils.py``, open-mmlab/mmaction2,
Apache-2.0, itself adapted from MCG-NJU/MultiSports, MIT): the "VOC" variant
of frame-AP and video-AP that the fast evaluator (``stal/ap.py``,
``protocol='voc'``) is checked against; docs/metrics/stal.md.

``area2d_voc``, ``overlap2d_voc``, ``iou2d_voc``, ``iou3d_voc``,
``iou3dt_voc`` and ``pr_to_ap_voc`` are copied unchanged except
``int(np.where(...)[0])`` -> ``int(np.where(...)[0][0])`` in ``iou3dt_voc``
(numpy 2 refuses ``int`` of a one-element array). ``frame_ap`` and
``video_ap`` are mmaction2's ``frameAP`` and ``videoAP`` without the logger
(mmengine) and returning ``({label: AP}, mean)`` with APs as fractions
(mmaction2 returns only the mean x 100). ``video_ap`` takes the tubes as
ACT's ``{video: {label: [(tube, score)]}}`` and builds mmaction2's
``{label: [(video, score, tube)]}`` from them (videos in split order).
mmaction2's linking (``link_tubes``) is not ported.

The six MultiSports labels that mmaction2 skips by name are skipped here too
(``EXCLUDED_LABELS``).
"""
import numpy as np

EXCLUDED_LABELS = ('aerobic kick jump', 'aerobic off axis jump',
                   'aerobic butterfly jump', 'aerobic balance turn',
                   'basketball save', 'basketball jump ball')


def area2d_voc(b):
    """Compute the areas for a set of 2D boxes."""
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def overlap2d_voc(b1, b2):
    """Compute the overlaps between a set of boxes b1 and one box b2."""
    xmin = np.maximum(b1[:, 0], b2[:, 0])
    ymin = np.maximum(b1[:, 1], b2[:, 1])
    xmax = np.minimum(b1[:, 2], b2[:, 2])
    ymax = np.minimum(b1[:, 3], b2[:, 3])

    width = np.maximum(0, xmax - xmin)
    height = np.maximum(0, ymax - ymin)

    return width * height


def iou2d_voc(b1, b2):
    """Compute the IoU between a set of boxes b1 and 1 box b2."""
    if b1.ndim == 1:
        b1 = b1[None, :]
    if b2.ndim == 1:
        b2 = b2[None, :]

    assert b2.shape[0] == 1

    ov = overlap2d_voc(b1, b2)

    return ov / (area2d_voc(b1) + area2d_voc(b2) - ov)


def iou3d_voc(b1, b2):
    """Compute the IoU between two tubes with same temporal extent."""
    assert b1.shape[0] == b2.shape[0]
    assert np.all(b1[:, 0] == b2[:, 0])

    ov = overlap2d_voc(b1[:, 1:5], b2[:, 1:5])

    return np.mean(ov / (area2d_voc(b1[:, 1:5]) + area2d_voc(b2[:, 1:5]) -
                         ov))


def iou3dt_voc(b1, b2, spatialonly=False, temporalonly=False):
    """Compute the spatio-temporal IoU between two tubes."""
    tmin = max(b1[0, 0], b2[0, 0])
    tmax = min(b1[-1, 0], b2[-1, 0])

    if tmax < tmin:
        return 0.0

    temporal_inter = tmax - tmin
    temporal_union = max(b1[-1, 0], b2[-1, 0]) - min(b1[0, 0], b2[0, 0])

    tube1 = b1[int(np.where(
        b1[:, 0] == tmin)[0][0]):int(np.where(b1[:, 0] == tmax)[0][0]) + 1, :]
    tube2 = b2[int(np.where(
        b2[:, 0] == tmin)[0][0]):int(np.where(b2[:, 0] == tmax)[0][0]) + 1, :]

    if temporalonly:
        return temporal_inter / temporal_union
    return iou3d_voc(tube1, tube2) * (1. if spatialonly else temporal_inter /
                                      temporal_union)


def pr_to_ap_voc(pr):
    precision = pr[:, 0]
    recall = pr[:, 1]
    recall = np.concatenate([[0], recall, [1]])
    precision = np.concatenate([[0], precision, [0]])

    # Preprocess precision to be a non-decreasing array
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = np.maximum(precision[i], precision[i + 1])

    indices = np.where(recall[1:] != recall[:-1])[0] + 1
    average_precision = np.sum(
        (recall[indices] - recall[indices - 1]) * precision[indices])
    return average_precision


def frame_ap(GT, alldets, thr):
    """mmaction2's ``frameAP``: ``({label: AP}, mean AP)`` (fractions)."""
    vlist = GT['test_videos'][0]

    results = {}
    for ilabel, label in enumerate(GT['labels']):
        # detections of this class
        if label in EXCLUDED_LABELS:
            continue
        # det format: <video_index><frame_number><label_index><score><x1>
        # <y1><x2><y2>
        detections = alldets[alldets[:, 2] == ilabel, :]

        # load ground-truth of this class
        gt = {}
        for iv, v in enumerate(vlist):
            tubes = GT['gttubes'][v]

            if ilabel not in tubes:
                continue

            for tube in tubes[ilabel]:
                for i in range(tube.shape[0]):
                    k = (iv, int(tube[i, 0]))  # k -> (video_idx, frame_idx)
                    if k not in gt:
                        gt[k] = []
                    gt[k].append(tube[i, 1:5].tolist())

        for k in gt:
            gt[k] = np.array(gt[k])

        # pr will be an array containing precision-recall values
        pr = np.empty((detections.shape[0], 2),
                      dtype=np.float64)  # precision,recall
        gt_num = sum([g.shape[0] for g in gt.values()])
        if gt_num == 0:
            continue
        fp = 0  # false positives
        tp = 0  # true positives

        is_gt_box_detected = {}
        for i, j in enumerate(np.argsort(-detections[:, 3])):
            k = (int(detections[j, 0]), int(detections[j, 1]))
            box = detections[j, 4:8]
            ispositive = False

            if k in gt:
                # match gt_box according to the iou
                if k not in is_gt_box_detected:
                    is_gt_box_detected[k] = np.zeros(
                        gt[k].shape[0], dtype=bool)
                ious = iou2d_voc(gt[k], box)
                amax = np.argmax(ious)

                if ious[amax] >= thr:
                    if not is_gt_box_detected[k][amax]:
                        ispositive = True
                        is_gt_box_detected[k][amax] = True

            if ispositive:
                tp += 1
            else:
                fp += 1
            pr[i, 0] = float(tp) / float(tp + fp)
            pr[i, 1] = float(tp) / float(gt_num)

        results[label] = pr

    class_result = {}
    for label in results:
        class_result[label] = pr_to_ap_voc(results[label])
    ap = np.array([class_result[label] for label in results])
    return class_result, np.mean(ap)


def video_ap(GT, tubes, thr):
    """mmaction2's ``videoAP``: ``({label: AP}, mean AP)`` (fractions).

    ``tubes``: ``{video: {label: [(tube, score)]}}`` (ACT's layout).
    """
    vlist = GT['test_videos'][0]
    alldets = {ilabel: [] for ilabel in range(len(GT['labels']))}
    for v in vlist:
        for ilabel, ltubes in tubes.get(v, {}).items():
            alldets[ilabel] += [(v, score, tube) for tube, score in ltubes]

    res = {}
    for ilabel in range(len(GT['labels'])):
        if GT['labels'][ilabel] in EXCLUDED_LABELS:
            continue
        detections = alldets[ilabel]
        # load ground-truth
        gt = {}
        for v in vlist:
            tubes = GT['gttubes'][v]

            if ilabel not in tubes:
                continue

            gt[v] = tubes[ilabel]

            if len(gt[v]) == 0:
                del gt[v]

        # precision,recall
        pr = np.empty((len(detections), 2), dtype=np.float64)

        gt_num = sum([len(g) for g in gt.values()])  # false negatives
        fp = 0  # false positives
        tp = 0  # true positives
        if gt_num == 0:
            continue
        is_gt_box_detected = {}
        for i, j in enumerate(
                np.argsort(-np.array([dd[1] for dd in detections]))):
            v, score, tube = detections[j]
            ispositive = False
            if v in gt:
                if v not in is_gt_box_detected:
                    is_gt_box_detected[v] = np.zeros(len(gt[v]), dtype=bool)
                ious = [iou3dt_voc(g, tube) for g in gt[v]]
                amax = np.argmax(ious)
                if ious[amax] >= thr:
                    if not is_gt_box_detected[v][amax]:
                        ispositive = True
                        is_gt_box_detected[v][amax] = True

            if ispositive:
                tp += 1
            else:
                fp += 1

            pr[i, 0] = float(tp) / float(tp + fp)
            pr[i, 1] = float(tp) / float(gt_num)
        res[GT['labels'][ilabel]] = pr

    class_result = {}
    for label in res:
        class_result[label] = pr_to_ap_voc(res[label])
    ap = np.array([class_result[label] for label in res])
    return class_result, np.mean(ap)
