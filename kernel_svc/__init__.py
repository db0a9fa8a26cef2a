"""The kernel: agent process table, scheduler and workers, the governed agent loop."""
