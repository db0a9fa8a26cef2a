"""`python -m policy_svc` serves; `python -m policy_svc rotate-key` adds a new signing key
(aos_common/entry.py)."""

from aos_common.entry import run
from policy_svc.server import SERVICE

run(SERVICE)
