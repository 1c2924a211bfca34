"""One announced line and a progress bar for a generation step: mmengine's
``ProgressBar`` when mmengine is installed (the generators themselves do
not need it), nothing but the line otherwise."""
import sys
from contextlib import contextmanager

# Redraws of the bar per step: a captured log keeps one short line.
MAX_REDRAWS = 50


class _Progress:

    def __init__(self, total: int):
        try:
            from mmengine.utils import ProgressBar
        except ImportError:
            ProgressBar = None
        # the stdout of now (the default is mmengine's import-time one)
        self.bar = (ProgressBar(total, file=sys.stdout)
                    if ProgressBar and total else None)
        self.step = max(1, total // MAX_REDRAWS)
        self.pending = 0

    def update(self):
        self.pending += 1
        if self.pending >= self.step:
            self.flush()

    def flush(self):
        if self.bar is not None and self.pending:
            self.bar.update(self.pending)
        self.pending = 0


@contextmanager
def announce(message: str, total: int):
    """Print ``message`` and yield a progress with ``update()`` (one item
    done); the bar's line ends when the step does."""
    print(message, flush=True)
    progress = _Progress(total)
    try:
        yield progress
    finally:
        progress.flush()
        if progress.bar is not None:
            sys.stdout.write('\n')
            sys.stdout.flush()
