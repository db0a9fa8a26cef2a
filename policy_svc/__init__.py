"""The policy service: the only signer of capability tokens and the syscall boundary."""
