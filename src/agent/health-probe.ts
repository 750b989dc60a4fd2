// The agent container's Docker healthcheck (src/cluster/agent-container.ts): healthy when the agent
// answers /healthz at all. A 503 there means backups are failing, which the operator's monitor
// reads from the body; the process itself is fine. Loads nothing of pgfort but the port.
import { get } from "node:http";
import { AGENT_DEFAULT_PORT } from "./contract";

const TIMEOUT_MS = 2000;

const request = get({ host: "127.0.0.1", port: AGENT_DEFAULT_PORT, path: "/healthz", timeout: TIMEOUT_MS }, (response) => {
  response.resume();
  process.exitCode = response.statusCode === 200 || response.statusCode === 503 ? 0 : 1;
});
request.on("timeout", () => request.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
request.on("error", (error) => {
  process.stderr.write(`agent does not answer on 127.0.0.1:${AGENT_DEFAULT_PORT}/healthz: ${error.message}\n`);
  process.exitCode = 1;
});
