// Spawns an agent and lists pending approvals through the AOSIQ gateway's gRPC
// port, authenticating with a bearer token in the `authorization` metadata.
//
//   AOS_GRPC_ADDRESS=127.0.0.1:50051 AOS_TOKEN=$(cat ~/.aosiq/admin.token) \
//   AOS_AGENT_CLASS=janitor node client.js
//
// Prints one JSON object: {"agent": {...}, "approvals": [...]}. Exits 1 with the
// gRPC status and the AOSIQ reason code on failure.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const PROTOS = process.env.AOS_PROTOS_DIR || path.resolve(__dirname, "..", "..", "protos");

function loadServices() {
  const definition = protoLoader.loadSync(
    [path.join(PROTOS, "aos/v1/agents.proto"), path.join(PROTOS, "aos/v1/approvals.proto")],
    { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
      includeDirs: [PROTOS, path.join(PROTOS, "third_party")] },
  );
  return grpc.loadPackageDefinition(definition).aos.v1;
}

// google.rpc.Status and ErrorInfo, just the fields we read.
const rpcTypes = protobuf.Root.fromJSON({ nested: { google: { nested: {
  protobuf: { nested: { Any: { fields: { type_url: { type: "string", id: 1 }, value: { type: "bytes", id: 2 } } } } },
  rpc: { nested: {
    Status: { fields: { code: { type: "int32", id: 1 }, message: { type: "string", id: 2 },
                        details: { rule: "repeated", type: "google.protobuf.Any", id: 3 } } },
    ErrorInfo: { fields: { reason: { type: "string", id: 1 }, domain: { type: "string", id: 2 } } },
  } },
} } } });

function reasonOf(error) {
  // AOSIQ puts its reason code in a google.rpc.ErrorInfo inside the rich status.
  const raw = error.metadata && error.metadata.get("grpc-status-details-bin")[0];
  if (raw) {
    const status = rpcTypes.lookupType("google.rpc.Status").decode(raw);
    for (const detail of status.details) {
      if (detail.type_url.endsWith("google.rpc.ErrorInfo")) {
        return rpcTypes.lookupType("google.rpc.ErrorInfo").decode(detail.value).reason;
      }
    }
  }
  return grpc.status[error.code];
}

function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + 15000 }, (err, reply) =>
      err ? reject(err) : resolve(reply));
  });
}

async function main() {
  const address = process.env.AOS_GRPC_ADDRESS || "127.0.0.1:50051";
  const token = process.env.AOS_TOKEN;
  if (!token) {
    console.error("error: set AOS_TOKEN to an operator token");
    process.exit(2);
  }
  const v1 = loadServices();
  const credentials = grpc.credentials.createInsecure();
  const agents = new v1.AgentService(address, credentials);
  const approvals = new v1.ApprovalService(address, credentials);
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);

  const spawned = await call(agents, "SpawnAgent", {
    agent_class: process.env.AOS_AGENT_CLASS || "janitor",
    task: process.env.AOS_TASK || "plan:\n1. answer Nothing to do.",
    grants: (process.env.AOS_GRANTS || "fs.read_file").split(","),
  }, metadata);
  const pending = await call(approvals, "ListApprovals", { state: "pending" }, metadata);
  console.log(JSON.stringify({ agent: spawned.agent, approvals: pending.approvals }));
}

main().catch((error) => {
  console.error(`error: ${reasonOf(error)}: ${error.details || error.message}`);
  process.exit(1);
});
