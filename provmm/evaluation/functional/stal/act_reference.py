"""A slow, literal port of the ACT detector's evaluation code (Kalogeiton et
al., "Action Tubelet Detector for Spatio-Temporal Action Localization", ICCV
2017; repository vkalogeiton/caffe, branch ``act-detector``, folder
``act-detector-scripts/``): the oracle that the fast evaluator
(``stal/ap.py``) is checked against by the tests and
``tools/benchmark_stal_eval.py``; docs/metrics/stal.md.

``ACT_utils.py`` (``area2d``, ``overlap2d``, ``iou2d``, ``nms_tubelets``,
``iou3d``, ``iou3dt``, ``nms3dt``, ``pr_to_ap``) is copied with the Python 2
to 3 changes only (``xrange`` -> ``range``, integer ``/`` -> ``//``,
``print``), and ``int(np.where(...)[0])`` -> ``int(np.where(...)[0][0])``
in ``iou3dt`` (numpy 2 refuses ``int`` of a one-element array). From
``ACT.py`` the bodies of ``frameAP``, ``videoAP`` and ``BuildTubes`` are
copied the same way; what reads ACT's files is replaced by arguments:

- ``frame_ap(gt, alldets, th)``: ``alldets`` is what ACT's
  ``load_frame_detections`` returns (rows ``video_index, frame, label,
  score, x1, y1, x2, y2``); the per-frame NMS of that loader belongs to the
  detector and is not run. Returns ``{label: pr}`` and the APs (fractions,
  ACT prints them x 100); a class with detections but no ground truth
  raises ``ZeroDivisionError``, as in ACT.
- ``video_ap(gt, tubes, th)``: ``tubes`` is ``{video: {label: [(tube,
  score)]}}``, the content of ACT's ``<video>_tubes.pkl`` files. ACT's
  ``del gt[v][amax]`` deletes from the ground truth's own lists; here those
  lists are copied first (the result of one call is unchanged).
- ``build_tubes(gt, alldets, K=1)``: ACT's linking of one video's
  detections per frame. ACT's ``VDets[frame]`` holds every box of the frame
  with the scores of all classes; here the boxes of a label are the rows of
  that label in ``alldets``, so ``VDets[frame][:, range(4*K) + [4*K + 1 +
  ilabel]]`` becomes those rows' ``x1, y1, x2, y2, score``. With ``K = 1`` a
  tube that skipped frames gets NaN boxes there (ACT divides 0 by 0).

Python 2's ``np.argsort`` default (quicksort) is kept: with score ties the
order, and so the result, depends on the platform.
"""
import numpy as np

# --------------------------------------------------------------------------
# ACT_utils.py
# --------------------------------------------------------------------------


def area2d(b):
    """Compute the areas for a set of 2D boxes"""

    return (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)


def overlap2d(b1, b2):
    """Compute the overlaps between a set of boxes b1 and one box b2"""

    xmin = np.maximum(b1[:, 0], b2[:, 0])
    ymin = np.maximum(b1[:, 1], b2[:, 1])
    xmax = np.minimum(b1[:, 2] + 1, b2[:, 2] + 1)
    ymax = np.minimum(b1[:, 3] + 1, b2[:, 3] + 1)

    width = np.maximum(0, xmax - xmin)
    height = np.maximum(0, ymax - ymin)

    return width * height


def iou2d(b1, b2):
    """Compute the IoU between a set of boxes b1 and 1 box b2"""

    if b1.ndim == 1:
        b1 = b1[None, :]
    if b2.ndim == 1:
        b2 = b2[None, :]

    assert b2.shape[0] == 1

    ov = overlap2d(b1, b2)

    return ov / (area2d(b1) + area2d(b2) - ov)


def nms_tubelets(dets, overlapThresh=0.3, top_k=None):
    """Compute the NMS for a set of scored tubelets
    scored tubelets are numpy array with 4K+1 columns, last one being the score
    return the indices of the tubelets to keep
    """

    # If there are no detections, return an empty list
    if len(dets) == 0:
        return np.empty((0,), dtype=np.int32)
    if top_k is None:
        top_k = len(dets)

    K = (dets.shape[1] - 1) // 4

    # Coordinates of bounding boxes
    x1 = [dets[:, 4 * k] for k in range(K)]
    y1 = [dets[:, 4 * k + 1] for k in range(K)]
    x2 = [dets[:, 4 * k + 2] for k in range(K)]
    y2 = [dets[:, 4 * k + 3] for k in range(K)]

    # Compute the area of the bounding boxes and sort the bounding
    # boxes by the bottom-right y-coordinate of the bounding box
    # area = (x2 - x1 + 1) * (y2 - y1 + 1)
    area = [(x2[k] - x1[k] + 1) * (y2[k] - y1[k] + 1) for k in range(K)]
    I = np.argsort(dets[:, -1])  # noqa: E741
    indices = np.empty(top_k, dtype=np.int32)
    counter = 0

    while I.size > 0:
        i = I[-1]
        indices[counter] = i
        counter += 1

        # Compute overlap
        xx1 = [np.maximum(x1[k][i], x1[k][I[:-1]]) for k in range(K)]
        yy1 = [np.maximum(y1[k][i], y1[k][I[:-1]]) for k in range(K)]
        xx2 = [np.minimum(x2[k][i], x2[k][I[:-1]]) for k in range(K)]
        yy2 = [np.minimum(y2[k][i], y2[k][I[:-1]]) for k in range(K)]

        w = [np.maximum(0, xx2[k] - xx1[k] + 1) for k in range(K)]
        h = [np.maximum(0, yy2[k] - yy1[k] + 1) for k in range(K)]

        inter_area = [w[k] * h[k] for k in range(K)]
        ious = sum([inter_area[k] / (area[k][I[:-1]] + area[k][i] -
                                     inter_area[k]) for k in range(K)])

        I = I[np.where(ious <= overlapThresh * K)[0]]  # noqa: E741

        if counter == top_k:
            break

    return indices[:counter]


def iou3d(b1, b2):
    """Compute the IoU between two tubes with same temporal extent"""

    assert b1.shape[0] == b2.shape[0]
    assert np.all(b1[:, 0] == b2[:, 0])

    ov = overlap2d(b1[:, 1:5], b2[:, 1:5])

    return np.mean(ov / (area2d(b1[:, 1:5]) + area2d(b2[:, 1:5]) - ov))


def iou3dt(b1, b2, spatialonly=False):
    """Compute the spatio-temporal IoU between two tubes"""

    tmin = max(b1[0, 0], b2[0, 0])
    tmax = min(b1[-1, 0], b2[-1, 0])

    if tmax < tmin:
        return 0.0

    temporal_inter = tmax - tmin + 1
    temporal_union = max(b1[-1, 0], b2[-1, 0]) - min(b1[0, 0], b2[0, 0]) + 1

    tube1 = b1[int(np.where(b1[:, 0] == tmin)[0][0]):
               int(np.where(b1[:, 0] == tmax)[0][0]) + 1, :]
    tube2 = b2[int(np.where(b2[:, 0] == tmin)[0][0]):
               int(np.where(b2[:, 0] == tmax)[0][0]) + 1, :]

    return iou3d(tube1, tube2) * (1. if spatialonly else
                                  temporal_inter / temporal_union)


def nms3dt(tubes, overlap=0.5):
    """Compute NMS of scored tubes. Tubes are given as list of (tube, score)
    return the list of indices to keep
    """

    if not tubes:
        return np.array([], dtype=np.int32)

    I = np.argsort([t[1] for t in tubes])  # noqa: E741
    indices = np.zeros(I.size, dtype=np.int32)
    counter = 0

    while I.size > 0:
        i = I[-1]
        indices[counter] = i
        counter += 1
        ious = np.array([iou3dt(tubes[ii][0], tubes[i][0]) for ii in I[:-1]])
        I = I[np.where(ious <= overlap)[0]]  # noqa: E741

    return indices[:counter]


def pr_to_ap(pr):
    """Compute AP given precision-recall
    pr is a Nx2 array with first row being precision and second row being
    recall
    """

    prdif = pr[1:, 1] - pr[:-1, 1]
    prsum = pr[1:, 0] + pr[:-1, 0]

    return np.sum(prdif * prsum * 0.5)


# --------------------------------------------------------------------------
# ACT.py
# --------------------------------------------------------------------------


def frame_ap(gt, alldets, th=0.5):
    """ACT's ``frameAP``: ``({label: pr}, APs (L,) as fractions)``."""
    vlist = gt['test_videos'][0]
    res = {}

    # compute AP for each class
    for ilabel, label in enumerate(gt['labels']):
        # detections of this class
        detections = alldets[alldets[:, 2] == ilabel, :]

        # load ground-truth of this class
        gt_boxes = {}
        for iv, v in enumerate(vlist):
            tubes = gt['gttubes'][v]

            if ilabel not in tubes:
                continue

            for tube in tubes[ilabel]:
                for i in range(tube.shape[0]):
                    k = (iv, int(tube[i, 0]))
                    if k not in gt_boxes:
                        gt_boxes[k] = []
                    gt_boxes[k].append(tube[i, 1:5].tolist())

        for k in gt_boxes:
            gt_boxes[k] = np.array(gt_boxes[k])

        # pr will be an array containing precision-recall values
        pr = np.empty((detections.shape[0] + 1, 2),
                      dtype=np.float32)  # precision,recall
        pr[0, 0] = 1.0
        pr[0, 1] = 0.0
        fn = sum([g.shape[0] for g in gt_boxes.values()])  # false negatives
        fp = 0  # false positives
        tp = 0  # true positives

        for i, j in enumerate(np.argsort(-detections[:, 3])):
            k = (int(detections[j, 0]), int(detections[j, 1]))
            box = detections[j, 4:8]
            ispositive = False

            if k in gt_boxes:
                ious = iou2d(gt_boxes[k], box)
                amax = np.argmax(ious)

                if ious[amax] >= th:
                    ispositive = True
                    gt_boxes[k] = np.delete(gt_boxes[k], amax, 0)

                    if gt_boxes[k].size == 0:
                        del gt_boxes[k]

            if ispositive:
                tp += 1
                fn -= 1
            else:
                fp += 1

            pr[i + 1, 0] = float(tp) / float(tp + fp)
            pr[i + 1, 1] = float(tp) / float(tp + fn)

        res[label] = pr

    ap = np.array([pr_to_ap(res[label]) for label in gt['labels']])
    return res, ap


def video_ap(gt, tubes, th=0.5):
    """ACT's ``videoAP``: ``({label: pr}, APs (L,) as fractions)``.

    ``tubes``: ``{video: {label: [(tube, score)]}}``; a video or label
    without an entry has no tube (ACT stops on a missing tube file).
    """
    vlist = gt['test_videos'][0]
    nlabels = len(gt['labels'])

    # load detections
    # alldets = for each label in 1..nlabels, list of tuple (v,score,tube)
    alldets = {ilabel: [] for ilabel in range(nlabels)}
    for v in vlist:
        vtubes = tubes.get(v, {})

        for ilabel in range(nlabels):
            ltubes = vtubes.get(ilabel, [])
            idx = nms3dt(ltubes, 0.3)
            alldets[ilabel] += [(v, ltubes[i][1], ltubes[i][0]) for i in idx]

    # compute AP for each class
    res = {}
    for ilabel in range(nlabels):
        detections = alldets[ilabel]
        # load ground-truth
        gt_tubes = {}
        for v in vlist:
            vgt = gt['gttubes'][v]

            if ilabel not in vgt:
                continue

            gt_tubes[v] = list(vgt[ilabel])  # a copy: ACT deletes from it

            if len(gt_tubes[v]) == 0:
                del gt_tubes[v]

        # precision,recall
        pr = np.empty((len(detections) + 1, 2), dtype=np.float32)
        pr[0, 0] = 1.0
        pr[0, 1] = 0.0

        fn = sum([len(g) for g in gt_tubes.values()])  # false negatives
        fp = 0  # false positives
        tp = 0  # true positives

        for i, j in enumerate(np.argsort(-np.array([dd[1]
                                                    for dd in detections]))):
            v, score, tube = detections[j]
            ispositive = False

            if v in gt_tubes:
                ious = [iou3dt(g, tube) for g in gt_tubes[v]]
                amax = np.argmax(ious)
                if ious[amax] >= th:
                    ispositive = True
                    del gt_tubes[v][amax]
                    if len(gt_tubes[v]) == 0:
                        del gt_tubes[v]

            if ispositive:
                tp += 1
                fn -= 1
            else:
                fp += 1

            pr[i + 1, 0] = float(tp) / float(tp + fp)
            pr[i + 1, 1] = float(tp) / float(tp + fn)

        res[gt['labels'][ilabel]] = pr

    ap = np.array([pr_to_ap(res[label]) for label in gt['labels']])
    return res, ap


def build_tubes(gt, alldets, K=1):
    """ACT's ``BuildTubes`` on detections per frame: ``{video: {label:
    [(tube, score)]}}``, each tube ``(n, 6)`` float32 with rows ``frame, x1,
    y1, x2, y2, per-frame score``."""
    vlist = gt['test_videos'][0]
    nlabels = len(gt['labels'])
    result = {}

    for iv, v in enumerate(vlist):
        RES = {}
        nframes = gt['nframes'][v]
        vrows = alldets[alldets[:, 0] == iv]

        # detections of the video: VDets[frame][ilabel] = N x 5 (box, score)
        VDets = {}
        for startframe in range(1, nframes + 2 - K):
            frows = vrows[vrows[:, 1] == startframe]
            VDets[startframe] = {
                ilabel: frows[frows[:, 2] == ilabel][:, [4, 5, 6, 7, 3]]
                for ilabel in range(nlabels)}

        for ilabel in range(nlabels):
            FINISHED_TUBES = []
            CURRENT_TUBES = []  # tubes is a list of tuple (frame, lstubelets)

            def tubescore(tt):
                return np.mean(np.array([tt[i][1][-1]
                                         for i in range(len(tt))]))

            for frame in range(1, nframes + 2 - K):
                # load boxes of the new frame and do nms while keeping Nkeep
                # highest scored
                ltubelets = VDets[frame][ilabel]  # Nx(4K+1) ilabel-score
                idx = nms_tubelets(ltubelets, 0.3, top_k=10)
                ltubelets = ltubelets[idx, :]

                # just start new tubes
                if frame == 1:
                    for i in range(ltubelets.shape[0]):
                        CURRENT_TUBES.append([(1, ltubelets[i, :])])
                    continue

                # sort current tubes according to average score
                avgscore = [tubescore(t) for t in CURRENT_TUBES]
                argsort = np.argsort(-np.array(avgscore))
                CURRENT_TUBES = [CURRENT_TUBES[i] for i in argsort]

                # loop over tubes
                finished = []
                for it, t in enumerate(CURRENT_TUBES):
                    # compute ious between the last box of t and ltubelets
                    last_frame, last_tubelet = t[-1]
                    ious = []
                    offset = frame - last_frame
                    if offset < K:
                        nov = K - offset
                        ious = sum([iou2d(ltubelets[:, 4 * iov:4 * iov + 4],
                                          last_tubelet[4 * (iov + offset):
                                                       4 * (iov + offset + 1)])
                                    for iov in range(nov)]) / float(nov)
                    else:
                        ious = iou2d(ltubelets[:, :4],
                                     last_tubelet[4 * K - 4:4 * K])

                    valid = np.where(ious >= 0.2)[0]

                    if valid.size > 0:
                        # take the one with maximum score
                        idx = valid[np.argmax(ltubelets[valid, -1])]
                        CURRENT_TUBES[it].append((frame, ltubelets[idx, :]))
                        ltubelets = np.delete(ltubelets, idx, axis=0)
                    else:
                        # skip
                        if offset >= 5:
                            finished.append(it)

                # finished tubes that are done
                # process in reverse order to delete them with the right index
                for it in finished[::-1]:
                    FINISHED_TUBES.append(CURRENT_TUBES[it][:])
                    del CURRENT_TUBES[it]

                # start new tubes
                for i in range(ltubelets.shape[0]):
                    CURRENT_TUBES.append([(frame, ltubelets[i, :])])

            # all tubes are not finished
            FINISHED_TUBES += CURRENT_TUBES

            # build real tubes
            output = []
            for t in FINISHED_TUBES:
                score = tubescore(t)

                # just start new tubes
                if score < 0.01:
                    continue

                beginframe = t[0][0]
                endframe = t[-1][0] + K - 1
                length = endframe + 1 - beginframe

                # delete tubes with short duraton
                if length < 15:
                    continue

                # build final tubes by average the tubelets
                out = np.zeros((length, 6), dtype=np.float32)
                out[:, 0] = np.arange(beginframe, endframe + 1)
                n_per_frame = np.zeros((length, 1), dtype=np.int32)
                for i in range(len(t)):
                    frame, box = t[i]
                    for k in range(K):
                        out[frame - beginframe + k, 1:5] += \
                            box[4 * k:4 * k + 4]
                        out[frame - beginframe + k, -1] += box[-1]
                        n_per_frame[frame - beginframe + k, 0] += 1
                with np.errstate(invalid='ignore'):  # 0 / 0 in skipped frames
                    out[:, 1:] /= n_per_frame
                output.append((out, score))

            RES[ilabel] = output

        result[v] = RES
    return result
