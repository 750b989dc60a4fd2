// `pgfort tls rotate`: see src/tls/rotate.ts.
import type { Command } from "commander";
import { rotateTls } from "../tls/rotate";
import { action } from "./context";

export function registerTls(program: Command): void {
  const tls = program.command("tls").description("the cluster's TLS certificates");
  tls
    .command("rotate")
    .description("issue a new server certificate (or take tls.certDir's files in again) and reload every running server: new connections get it, existing ones stay up")
    .action(
      action(async ({ output, loadConfig, docker }) => {
        const loaded = await loadConfig();
        const result = await rotateTls(await docker(), loaded);
        output.result(result, [
          `${result.source === "certDir" ? "took in tls.certDir's certificate" : "issued a new server certificate"} ${result.fingerprint}, valid until ${result.notAfter.slice(0, 10)} for ${result.names.join(", ")}`,
          ...result.servers.map((server) => `${server.container}: reloaded, serves it to new connections`),
          `clients verify it with ${result.caFile} (unchanged)`,
        ]);
      }),
    );
}
