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
