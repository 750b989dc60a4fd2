// A TCP relay in front of a server, so a test can make the server vanish for its clients (no
// listener, every connection closed) while the server itself keeps what it stored: moto keeps its
// state in memory, so killing it would lose the very upload a test wants to find afterwards.
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  private constructor(private readonly targetPort: number) {}

  /**
   * Listens on every address (a free port when `port` is 0; job containers reach it through their
   * network's gateway) and relays to 127.0.0.1:`targetPort`.
   */
  static async start(targetPort: number, port = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await proxy.listen(port);
    return proxy;
  }

  async listen(port: number): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection({ host: "127.0.0.1", port: this.targetPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once("close", () => this.sockets.delete(socket));
        // A reset on one side ends both; the error itself is what the client sees, not ours to throw.
        socket.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "0.0.0.0", () => resolve());
    });
    this.server = server;
    const address = server.address();
    this.port = typeof address === "object" && address ? address.port : port;
  }

  /** To every client the server is gone at once: no listener, open connections closed. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  /** Listens again on the same port. */
  async resume(): Promise<void> {
    await this.listen(this.port);
  }
}
