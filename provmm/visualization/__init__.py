from .wsol_visualizer import WSOLVisualizer  # noqa: F401
