"""`python -m kernel_svc` serves the API with in-process workers and the reaper;
`python -m kernel_svc worker` runs workers only (aos_common/entry.py)."""

from aos_common.entry import run
from kernel_svc.server import SERVICE

run(SERVICE)
