// /metrics (Prometheus) and /healthz (200 or 503 with the reasons) on 127.0.0.1.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Health } from "./health";

/** What /metrics serves: a prom-client Registry (the scheduler's, or several merged). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export async function startStatusServer(metrics: MetricsSource, health: () => Health, host: string, port: number): Promise<Server & { port: number }> {
  const server = createServer((request, response) => {
    void (async () => {
      if (request.url === "/metrics") {
        response.writeHead(200, { "Content-Type": metrics.contentType });
        response.end(await metrics.metrics());
      } else if (request.url === "/healthz") {
        const result = health();
        response.writeHead(result.ok ? 200 : 503, { "Content-Type": "application/json" });
        response.end(`${JSON.stringify(result)}\n`);
      } else {
        response.writeHead(404, { "Content-Type": "text/plain" });
        response.end("try /metrics or /healthz\n");
      }
    })().catch((error: unknown) => {
      response.writeHead(500);
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, () => resolve()));
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}
