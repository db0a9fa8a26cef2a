"""`python -m gateway`: start the gateway (aos_common/entry.py)."""

from aos_common.entry import run
from gateway.server import SERVICE

run(SERVICE)
