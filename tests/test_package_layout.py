"""The package's layout holds: a framework-free core, and dependencies
between provmm's sub-packages that run one way."""
import ast
import os.path as osp
import subprocess
import sys
import textwrap

import provmm

PACKAGE_ROOT = osp.dirname(provmm.__file__)
FRAMEWORKS = ('mmcv', 'mmengine', 'mmpretrain')
# Plain torch / numpy / OpenCV: usable without OpenMMLab.
CORE = ('provenance', 'ops', 'synthetic')


def _blocked_import_script(body: str) -> str:
    return textwrap.dedent("""
        import importlib.abc
        import sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in {frameworks!r}:
                    raise ImportError(f'blocked: {{name}}')

        sys.meta_path.insert(0, Block())
    """).format(frameworks=FRAMEWORKS) + textwrap.dedent(body)


def test_core_imports_and_runs_without_openmmlab():
    script = _blocked_import_script("""
        import torch
        import provmm
        import provmm.ops.double_backward
        import provmm.synthetic
        from provmm.provenance import provenance_gradient_loss, random_cutmix
        torch.manual_seed(0)
        mixed = random_cutmix(torch.rand(4, 3, 8, 8), alpha=1.0)
        inputs = mixed.inputs.requires_grad_(True)
        weight = (0.05 * torch.randn(192, 5)).requires_grad_(True)
        logits = torch.tanh(inputs.flatten(1) @ weight)
        loss = provenance_gradient_loss(
            inputs, logits, mixed.mask, torch.tensor([0, 1, 2, 3]),
            torch.tensor([1, 2, 3, 0]))
        loss.backward()
        assert weight.grad.abs().sum() > 0
        loaded = sorted(set(m.split('.')[0] for m in sys.modules) &
                        set({frameworks!r}))
        print('loaded', loaded, 'finite', bool(torch.isfinite(loss)))
    """.format(frameworks=FRAMEWORKS))
    out = subprocess.run([sys.executable, '-c', script],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == 'loaded [] finite True'


def test_blocking_really_blocks():
    script = _blocked_import_script('import provmm.registry')
    out = subprocess.run([sys.executable, '-c', script],
                         capture_output=True, text=True)
    assert out.returncode != 0 and 'blocked: m' in out.stderr


def _imported_provmm_modules(path: str, module: str):
    """Every ``provmm.*`` module ``path`` imports, at any depth of the
    file (imports inside functions count: they still form circles)."""
    package = module if path.endswith('__init__.py') else module.rpartition(
        '.')[0]
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                names = ['.'.join(base + ([node.module] if node.module
                                          else []))]
            else:
                names = [node.module]
        else:
            continue
        yield from (n for n in names if n and n.split('.')[0] == 'provmm')


def _subpackage(module: str) -> str:
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def subpackage_graph():
    """``{subpackage: {subpackages it imports}}`` over provmm's files."""
    import pathlib
    graph = {}
    for path in pathlib.Path(PACKAGE_ROOT).rglob('*.py'):
        rel = path.relative_to(osp.dirname(PACKAGE_ROOT)).with_suffix('')
        module = '.'.join(rel.parts)
        if module.endswith('.__init__'):
            module = module[:-len('.__init__')]
        source = _subpackage(module)
        if not source:
            continue
        for target in _imported_provmm_modules(str(path), module):
            target = _subpackage(target)
            if target and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def test_no_import_circle_between_subpackages():
    graph = subpackage_graph()
    path = []

    def visit(node, seen):
        if node in path:
            cycle = path[path.index(node):] + [node]
            raise AssertionError('import circle: ' + ' -> '.join(cycle))
        if node in seen:
            return
        path.append(node)
        for target in sorted(graph.get(node, ())):
            visit(target, seen)
        path.pop()
        seen.add(node)

    seen = set()
    for node in sorted(graph):
        visit(node, seen)
    assert {'models', 'datasets', 'evaluation'} <= set(graph)


def test_core_depends_on_no_adapter():
    graph = subpackage_graph()
    for core in CORE:
        assert graph.get(core, set()) <= set(CORE), (core, graph.get(core))


def test_import_provmm_registers_nothing():
    script = _blocked_import_script('import provmm; print(provmm.__version__)')
    out = subprocess.run([sys.executable, '-c', script],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == provmm.__version__


def test_no_tool_or_package_file_imports_the_tests():
    import pathlib
    repo = osp.dirname(PACKAGE_ROOT)
    for folder in ('provmm', 'tools'):
        for path in pathlib.Path(repo, folder).rglob('*.py'):
            text = path.read_text(encoding='utf-8')
            assert 'from tests' not in text and "'tests'" not in text, path
