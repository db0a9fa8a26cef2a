-- A syscall keeps the cost its provider reported next to what was charged
-- (never more than its reservation): the difference is an overrun, audited
-- as COST_OVERRUN_REPORTED and never counted against the ceiling.

ALTER TABLE policy.syscalls ADD COLUMN reported_usd numeric(20, 9) CHECK (reported_usd >= 0);

GRANT UPDATE (reported_usd) ON policy.syscalls TO aos_policy;
