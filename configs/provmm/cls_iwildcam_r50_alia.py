# iWildCam + ALIA's edited images (paper Table 3 "ALIA"): 2,224 edits added
# to the training split (Table 8). Manifest written by
#   python tools/make_provenance_masks.py --manifest <edits.csv> \
#       --out-dir data/alia_edits/iwildcam/masks
_base_ = ['./cls_iwildcam_r50.py']

train_dataloader = dict(
    dataset=dict(
        edited_manifest='data/alia_edits/iwildcam/masks/manifest.csv',
        num_edited=2224))
