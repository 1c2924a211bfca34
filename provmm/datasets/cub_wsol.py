"""CUB-200-2011 for weakly supervised object localization."""
from mmpretrain.datasets.categories import CUB_CATEGORIES

from provmm.registry import DATASETS
from .wsol_dataset import WSOLDataset


@DATASETS.register_module()
class CUBWSOLDataset(WSOLDataset):
    """CUB-200-2011 with the wsolevaluation splits and boxes.

    Expected layout (``data_root``, e.g. ``data/CUB_200_2011``)::

        data/CUB_200_2011/images/001.Black_footed_Albatross/*.jpg   (train, test)
        data/CUB_200_2011/images/001.Black_footed_Albatross/<flickr id>.jpg  (val, CUBV2)

    The metadata (train 5,994 / val 1,000 / test 5,794 images, one box each)
    ships with provmm in ``metadata/wsol/CUB``.
    """

    METAINFO = {'classes': CUB_CATEGORIES}
    DATA_HINT = (
        'download CUB-200-2011 (https://www.vision.caltech.edu/datasets/'
        'cub_200_2011/) and extract it so that '
        '<data_root>/images/001.Black_footed_Albatross/... exists (default '
        'data_root: data/CUB_200_2011); the val split (CUBV2) images come '
        'from https://github.com/clovaai/wsolevaluation and go into the same '
        'images/ folder')
