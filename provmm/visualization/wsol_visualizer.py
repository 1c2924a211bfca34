"""``WSOLVisualizer``: the CAM overlay of one WSOL test image."""
from typing import Optional, Sequence

import cv2
import mmcv
import numpy as np
from mmengine.visualization import Visualizer
from mmpretrain.visualization import UniversalVisualizer
from mmpretrain.visualization.utils import get_adaptive_scale

from provmm.evaluation.functional import quantize_scoremap
from provmm.registry import VISUALIZERS


@VISUALIZERS.register_module()
class WSOLVisualizer(UniversalVisualizer):
    """:class:`UniversalVisualizer` (so mmpretrain's ``VisualizationHook``
    still works with it) that also draws WSOL results.

    :meth:`visualize_wsol` draws, in the frame of the score map (the frame
    the metric compares boxes in), the score map as a JET heat map over the
    image, the GT boxes in green, the predicted box in red (dashed) and a
    caption in a black band under the image. Small frames are enlarged so
    that the longer side is at least ``min_size`` pixels.
    """

    GT_COLOR = 'lime'
    PRED_COLOR = 'red'

    def visualize_wsol(self,
                       image: np.ndarray,
                       scoremap: np.ndarray,
                       gt_boxes: np.ndarray,
                       pred_box: Optional[np.ndarray] = None,
                       caption: Sequence[str] = (),
                       min_size: int = 448,
                       alpha: float = 0.5,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       name: str = '',
                       step: int = 0) -> np.ndarray:
        """Draw one WSOL result.

        Args:
            image: ``(h, w, 3)`` RGB uint8 image, resized here to the
                score map's frame.
            scoremap: ``(H, W)`` float map in [0, 1].
            gt_boxes: ``(n, 4)`` inclusive ``x0, y0, x1, y1`` in the score
                map's pixels.
            pred_box: ``(4,)`` inclusive predicted box, same frame.
            caption: lines written under the image.
            min_size: smallest longer side of the drawn image (pixels).
            alpha: weight of the heat map in the blend.
            show, wait_time, out_file, name, step: as
                :meth:`UniversalVisualizer.visualize_cls`.

        Returns:
            The drawn ``(H', W', 3)`` RGB image.
        """
        height, width = scoremap.shape
        image = mmcv.imresize(image, (width, height))
        heat = cv2.applyColorMap(quantize_scoremap(scoremap),
                                 cv2.COLORMAP_JET)[..., ::-1]
        blend = cv2.addWeighted(image, 1 - alpha, heat, alpha, 0)
        scale = max(1.0, min_size / max(height, width))
        canvas = mmcv.imresize(blend, (round(width * scale),
                                       round(height * scale)),
                               interpolation='bicubic')

        # font in points; shrink it until the longest line fits the width
        px_per_pt = self.dpi / 72
        longest = max([len(line) for line in caption] + [1])
        font_size = min(7 * get_adaptive_scale(canvas.shape[:2]),
                        0.95 * canvas.shape[1] / (0.61 * longest * px_per_pt))
        line_px = 1.3 * font_size * px_per_pt
        band = int(np.ceil(line_px * (len(caption) + 0.5))) if caption else 0
        self.set_image(np.concatenate(
            [canvas, np.zeros((band, ) + canvas.shape[1:], np.uint8)]))
        # inclusive pixel boxes: pixel x spans [x, x + 1) on the canvas
        boxes = (np.asarray(gt_boxes, np.float64).reshape(-1, 4) +
                 [0, 0, 1, 1]) * scale
        self.draw_bboxes(boxes, edge_colors=self.GT_COLOR, line_widths=3)
        if pred_box is not None:
            box = (np.asarray(pred_box, np.float64).reshape(1, 4) +
                   [0, 0, 1, 1]) * scale
            self.draw_bboxes(box, edge_colors=self.PRED_COLOR,
                             line_styles='--', line_widths=3)
        if caption:
            self.draw_texts('\n'.join(caption),
                            np.array([line_px / 4, canvas.shape[0] +
                                      line_px / 4]),
                            font_sizes=font_size, colors='white',
                            font_families='monospace')
        drawn = self.get_image()
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step=step)
        return drawn


def current_wsol_visualizer() -> WSOLVisualizer:
    """The runner's visualizer, which must be a :class:`WSOLVisualizer`."""
    visualizer = Visualizer.get_current_instance()
    if not isinstance(visualizer, WSOLVisualizer):
        raise TypeError(
            "WSOL overlays need visualizer=dict(type='WSOLVisualizer', ...) "
            f'in the config, got {type(visualizer).__name__}')
    return visualizer
