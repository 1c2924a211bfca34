# Waterbirds + ALIA edits + hard-label provenance gradient guidance (Eq. 10),
# alpha 0.1 (Table 8); the mask of each edited image comes from the data
# pipeline (real images: all ones, no penalty).
_base_ = ['./cls_waterbirds_r50_alia.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss', loss_weight=0.1, mode='hard'))
