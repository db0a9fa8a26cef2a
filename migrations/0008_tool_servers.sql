-- MCP tool servers (kernel) and pinned tool definitions (policy).
--
-- kernel.tool_servers holds what the kernel needs to start or reach a server,
-- including its credentials (env, headers): only the kernel's role can read
-- this schema, and no API returns those columns. `approved` is the set of
-- definitions an operator pinned; `listed` is what the server last presented.
CREATE TABLE kernel.tool_servers (
    name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    transport text NOT NULL CHECK (transport IN ('stdio', 'http')),
    command jsonb NOT NULL DEFAULT '[]',
    url text NOT NULL DEFAULT '',
    secret_env jsonb NOT NULL DEFAULT '{}',
    secret_headers jsonb NOT NULL DEFAULT '{}',
    overrides jsonb NOT NULL DEFAULT '{}',
    listed jsonb NOT NULL DEFAULT '{}',
    listed_hash text NOT NULL DEFAULT '',
    approved jsonb NOT NULL DEFAULT '{}',
    approved_hash text NOT NULL DEFAULT '',
    approved_by text NOT NULL DEFAULT '',
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE, DELETE ON kernel.tool_servers TO aos_kernel;

-- A pinned tool's approved definition: Authorize refuses a call whose
-- presented definition differs ("" for built-in tools, which are not pinned).
ALTER TABLE policy.tools ADD COLUMN definition_hash text NOT NULL DEFAULT '';
GRANT UPDATE (definition_hash) ON policy.tools TO aos_policy;
