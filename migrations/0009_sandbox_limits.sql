-- Per-class ceilings on a sandboxed call's resources (aos_common/resource_limits.py
-- names them). Empty: every limit is the deployment's default.
ALTER TABLE policy.agent_classes
    ADD COLUMN sandbox_limits jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(sandbox_limits) = 'object');
