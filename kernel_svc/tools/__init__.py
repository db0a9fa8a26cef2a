"""Tools agents can call, each through the syscall boundary."""
