-- Approval quorum (docs/POLICY.md "Approval quorum"): how many distinct operators
-- an agent class needs per blast radius, whether the operator who started the
-- agent's tree may count, and how long its approvals wait.

-- {"low"|"medium"|"high": 1..10}; a radius not named needs one approval.
ALTER TABLE policy.agent_classes
    ADD COLUMN approval_quorum jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(approval_quorum) = 'object'),
    ADD COLUMN approval_excludes_spawner boolean NOT NULL DEFAULT false,
    -- NULL: the deployment's AOS_APPROVAL_TTL_SECONDS.
    ADD COLUMN approval_ttl_seconds integer CHECK (approval_ttl_seconds > 0);

-- Fixed when the approval is opened, so a later class change cannot lower it;
-- excluded_approvers: the subjects who may not count (the agent's spawner).
ALTER TABLE policy.approvals
    ADD COLUMN approvals_required integer NOT NULL DEFAULT 1 CHECK (approvals_required BETWEEN 1 AND 10),
    ADD COLUMN excluded_approvers text[] NOT NULL DEFAULT '{}';

-- One row per operator who approved: a subject counts once per approval.
CREATE TABLE policy.approval_approvers (
    approval_id uuid NOT NULL REFERENCES policy.approvals (approval_id),
    subject text NOT NULL,
    jti text NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (approval_id, subject)
);
GRANT SELECT, INSERT ON policy.approval_approvers TO aos_policy;

-- Approvals decided before quorums: their one decider is their one approver.
INSERT INTO policy.approval_approvers (approval_id, subject, jti, approved_at)
SELECT approval_id, decided_by, coalesce(decided_jti, ''), coalesce(decided_at, created_at)
FROM policy.approvals WHERE state IN ('approved', 'consumed') AND decided_by IS NOT NULL;
