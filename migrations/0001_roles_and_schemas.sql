-- One role and one schema per service. A service connects as its own role and
-- can reach only its own schema; no role but the migration owner can create
-- objects anywhere.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aos_kernel') THEN
        CREATE ROLE aos_kernel LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aos_policy') THEN
        CREATE ROLE aos_policy LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aos_audit') THEN
        CREATE ROLE aos_audit LOGIN;
    END IF;
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM aos_kernel, aos_policy, aos_audit;

CREATE SCHEMA kernel;
CREATE SCHEMA policy;
CREATE SCHEMA audit;

REVOKE ALL ON SCHEMA kernel, policy, audit FROM PUBLIC;
GRANT USAGE ON SCHEMA kernel TO aos_kernel;
GRANT USAGE ON SCHEMA policy TO aos_policy;
GRANT USAGE ON SCHEMA audit TO aos_audit;

ALTER ROLE aos_kernel SET search_path = kernel;
ALTER ROLE aos_policy SET search_path = policy;
ALTER ROLE aos_audit SET search_path = audit;
