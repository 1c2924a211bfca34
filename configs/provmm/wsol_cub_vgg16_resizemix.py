# Baseline: VGG16 CAM + ResizeMix on CUB WSOL.
_base_ = ['./wsol_cub_vgg16_cutmix.py']

data_preprocessor = dict(
    augments=[dict(type='ProvenanceResizeMix', alpha=1.0)])
