"""The edge of AOSIQ: REST and gRPC for outside callers, bearer-token checks, health."""
