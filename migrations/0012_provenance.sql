-- Argument provenance (aos_common/provenance.py): an agent class's rule for
-- consequential calls whose arguments were not traced to the operator, which
-- tools reach outside the runtime, and the labels an approval was asked with.
ALTER TABLE policy.agent_classes
    ADD COLUMN untrusted_args text NOT NULL DEFAULT 'approve'
        CHECK (untrusted_args IN ('allow', 'approve', 'deny'));

ALTER TABLE policy.tools
    ADD COLUMN open_world boolean NOT NULL DEFAULT false;
GRANT UPDATE (open_world) ON policy.tools TO aos_policy;

ALTER TABLE policy.approvals
    ADD COLUMN arg_provenance jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(arg_provenance) = 'object');
