"""Running a tool in a child process, as a user would (shared by the tool
tests)."""
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def run_tool(args, cwd=ROOT) -> subprocess.CompletedProcess:
    """``python <args>`` with one OpenMP thread, output captured."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable] + list(args), cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def run_tool_ok(args, cwd=ROOT) -> str:
    """:func:`run_tool` that must exit 0; returns stdout + stderr."""
    out = run_tool(args, cwd)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr
