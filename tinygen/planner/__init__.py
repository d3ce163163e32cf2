"""Memory planner: every intermediate tensor and kernel scratch buffer gets an offset in one
static arena, and the layers an execution order.

Tensors that share bytes (reshapes, in-place concatenations) form one buffer; graph
inputs and outputs stay in the caller's buffers. Buffers live from their first write to
their last read; a layer's output may overlap an input that dies there as far as its
kernel's access order allows. Several placement strategies run on the orders the
scheduler proposes, the smallest checked arena wins, and it is reported against the
whole-tensor lower bound. See plan.py for the stages and each module's header for its
algorithm and limits.
"""

from .check import check_plan
from .liveness import ALIGNMENT, Alias, Buffer, Permit, Step, Storage, align
from .plan import Plan, plan_memory, step_of

__all__ = ["ALIGNMENT", "Alias", "Buffer", "Permit", "Plan", "Step", "Storage", "align", "check_plan",
           "plan_memory", "step_of"]
