"""provmm registers into children of mmpretrain's registries and works both
as the default scope and through `custom_imports` from another project."""
import subprocess
import sys
import textwrap

import torch
from mmengine.registry import DefaultScope

from provmm.registry import MODELS
from provmm.utils import register_all_modules


def test_provmm_registry_is_child_of_mmpretrain():
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    assert MODELS.parent is MMPRETRAIN_MODELS
    assert MODELS.scope == 'provmm'


def test_default_scope_provmm_builds_provmm_and_mmpretrain_modules():
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('provmm'):
        cam = MODELS.build(dict(type='VGG16CAM'))
        resnet = MODELS.build(dict(type='ResNet', depth=18))  # from mmpretrain
    assert cam(torch.zeros(1, 3, 32, 32))[0].shape == (1, 1024, 2, 2)
    assert type(resnet).__module__.startswith('mmpretrain')


def test_custom_imports_from_another_project(tmp_path):
    # A fresh interpreter whose config belongs to mmpretrain and only names
    # provmm in custom_imports, as another OpenMMLab project would.
    cfg = tmp_path / 'other_project.py'
    cfg.write_text(textwrap.dedent("""
        default_scope = 'mmpretrain'
        custom_imports = dict(imports=['provmm'], allow_failed_imports=False)
        model = dict(type='provmm.VGG16CAM')
    """))
    script = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmpretrain.registry import MODELS
        cfg = Config.fromfile({str(cfg)!r})  # runs custom_imports
        assert 'provmm' in sys.modules
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model)
        print(type(model).__module__)
    """)
    out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == 'provmm.models.backbones.vgg16_cam'


def test_readme_snippet_trains_from_an_mmpretrain_scope(tmp_path):
    # README "From another OpenMMLab project": provmm's names with their
    # scope, in a config whose default scope is mmpretrain.
    cfg = tmp_path / 'other_project.py'
    cfg.write_text(textwrap.dedent("""
        default_scope = 'mmpretrain'
        custom_imports = dict(imports=['provmm'], allow_failed_imports=False)
        model = dict(
            type='provmm.ProvenanceImageClassifier',
            backbone=dict(type='ResNet', depth=18, stem_channels=8,
                          base_channels=8, out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=64,
                      loss=dict(type='CrossEntropyLoss', use_soft=True)),
            data_preprocessor=dict(num_classes=3),
            train_cfg=dict(augments=[
                dict(type='provmm.ProvenanceCutMix', alpha=1.0)]),
            provenance_loss=dict(type='provmm.ProvenanceGradientLoss',
                                 loss_weight=0.05))
    """))
    script = textwrap.dedent(f"""
        import torch
        from mmengine.config import Config
        from mmengine.optim import OptimWrapper
        from mmengine.registry import init_default_scope
        from mmpretrain.registry import MODELS
        from mmpretrain.structures import DataSample
        cfg = Config.fromfile({str(cfg)!r})
        init_default_scope(cfg.default_scope)

        def step(model_cfg):
            torch.manual_seed(0)
            model = MODELS.build(model_cfg)
            data = dict(
                inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
                        for _ in range(4)],
                data_samples=[DataSample().set_gt_label(i % 3)
                              for i in range(4)])
            optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
            return model.train_step(data, optim)

        print('loss_pg', float(step(cfg.model)['loss_pg']) > 0)
        # mmpretrain's own CutMix carries no provenance: a clear stop.
        cfg.model.pop('train_cfg')
        cfg.model.data_preprocessor = dict(
            type='ClsDataPreprocessor', num_classes=3,
            batch_augments=dict(augments=[dict(type='CutMix', alpha=1.0)]))
        try:
            step(cfg.model)
        except ValueError as error:
            print(str(error).split('.')[0])
    """)
    out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    printed = [line for line in out.stdout.splitlines()
               if line.startswith(('loss_pg', 'ProvenanceGradientLoss'))]
    assert printed == [
        'loss_pg True',
        "ProvenanceGradientLoss: the batch carries no provenance (data "
        "samples lack ['prov_mask', 'guidance', 'gt_label_b'])"]
