# Waterbirds + ALIA's edited images (paper Table 3 "ALIA"): 839 edits added
# to the training split (Table 8). The manifest is the one written by
#   python tools/make_provenance_masks.py --manifest <edits.csv> \
#       --out-dir data/alia_edits/waterbirds/masks
# (columns original, edited, label, mask; build <edits.csv> from ALIA's
# output folders with tools/import_alia.py).
_base_ = ['./cls_waterbirds_r50.py']

train_dataloader = dict(
    dataset=dict(
        edited_manifest='data/alia_edits/waterbirds/masks/manifest.csv',
        num_edited=839))
