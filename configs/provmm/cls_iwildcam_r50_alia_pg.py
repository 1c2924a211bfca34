# iWildCam + ALIA edits + hard-label provenance gradient guidance (Eq. 10),
# alpha 0.1 (Table 8).
_base_ = ['./cls_iwildcam_r50_alia.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss', loss_weight=0.1, mode='hard'))
