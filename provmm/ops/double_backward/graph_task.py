"""What the running backward pass needs: autograd engine queries.

A custom ``autograd.Function`` only knows which of its inputs *can* take a
gradient (``ctx.needs_input_grad``); the built-in nodes also know which ones
the running pass *will use* (``autograd.grad(..., inputs=[x])`` skips every
weight gradient). :func:`needed_gradients` gives custom functions the same.
"""
from typing import List

import torch


def will_execute(node) -> bool:
    """Whether the running backward pass executes ``node``.

    ``None`` (an input without gradient) is never executed. A leaf captured
    by ``autograd.grad`` cannot be asked about; it is reported as executed,
    which only costs an unused gradient.
    """
    if node is None:
        return False
    try:
        return bool(torch._C._will_engine_execute_node(node))
    except RuntimeError:
        return True


def needed_gradients(ctx, count: int) -> List[bool]:
    """Per tensor input of the node ``ctx``: will its gradient be used?

    Args:
        ctx: the ``autograd.Function`` context (its backward node), inside
            ``backward``.
        count (int): the number of tensor inputs of ``forward`` (inputs that
            were ``None`` are not counted and not listed).
    """
    nodes = [node for node, _ in ctx.next_functions]
    return [will_execute(node) for node in nodes[:count]]


def current_graph_task() -> int:
    """Id of the running backward pass (``-1`` outside of one)."""
    return torch._C._current_graph_task_id()
