"""`python -m audit_svc`: serve the audit chain (aos_common/entry.py)."""

from aos_common.entry import run
from audit_svc.server import SERVICE

run(SERVICE)
