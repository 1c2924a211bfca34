# CUB + ALIA's edited images (paper Table 3 "ALIA"): 1,000 edits added to the
# training split (Table 8). Manifest written by
#   python tools/make_provenance_masks.py --manifest <edits.csv> \
#       --out-dir data/alia_edits/cub/masks
_base_ = ['./cls_cub_r50.py']

train_dataloader = dict(
    dataset=dict(
        edited_manifest='data/alia_edits/cub/masks/manifest.csv',
        num_edited=1000))
