"""MCP tool servers as governed tool packs: registered and pinned by operators,
called only through the syscall boundary (docs/TOOL_SERVERS.md)."""
