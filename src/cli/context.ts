import type { Command } from "commander";
import { loadConfig, type LoadedConfig } from "../config/load";
import { DockerClient } from "../docker/client";
import { DockerUnavailableError, SwarmError } from "../errors";
import { interruption, suspendInterruptHandlers } from "./interrupt";
import { Output } from "./output";
import { Releasers, type Releaser } from "../lifecycle/releasers";

/** What every command gets: its output, the loaded config, and a Docker connection on demand. */
export interface CommandContext {
  output: Output;
  loadConfig(): Promise<LoadedConfig>;
  docker(): Promise<DockerClient>;
  /** Releasers run in reverse order after the command, even when it fails. */
  defer(release: Releaser): void;
  /** Aborted by the first SIGINT or SIGTERM: pass it to every long library call. */
  signal: AbortSignal;
}

export type CommandAction<Options> = (context: CommandContext, options: Options, ...args: string[]) => Promise<void>;

/**
 * Wraps a command's action: global options, error printing, exit code, and interruption. The
 * first SIGINT/SIGTERM aborts the command's signal, the command cleans up (job containers, partial
 * files, uploads) and exits 130/143; a second one exits at once, cleanup or not.
 */
export function action<Options>(handler: CommandAction<Options>, settings: { ownSignals?: boolean; swarm?: boolean } = {}) {
  return async (...commanderArgs: unknown[]): Promise<void> => {
    const command = commanderArgs[commanderArgs.length - 1] as Command;
    const globals = command.optsWithGlobals<{ config?: string; json?: boolean }>();
    const output = new Output({ json: Boolean(globals.json) });
    const releasers = new Releasers();
    let docker: DockerClient | undefined;
    const context: CommandContext = {
      output,
      loadConfig: async () => refuseOnSwarm(await loadConfig(globals.config), command, Boolean(settings.swarm)),
      docker: async () => (docker ??= await DockerClient.connect()),
      defer: (release) => releasers.add(release),
      signal: interruption,
    };
    // `schedule` stops gracefully on its own terms (waits for a running job): it keeps the signals.
    const resume = settings.ownSignals ? suspendInterruptHandlers() : () => undefined;
    const positional = commanderArgs.slice(0, -2).filter((value): value is string => typeof value === "string");
    // A request whose connection died after its response headers (docker-modem's wait or attach when
    // the engine goes away) never settles; with nothing else pending Node would then exit 0 halfway
    // through the command, saying nothing. Measured with an engine cut mid-drill.
    const stalled = (): void => {
      process.exitCode = output.error(
        new DockerUnavailableError(
          "the command stopped halfway: a request to the Docker engine was never answered (the engine went away or restarted)",
          "check the engine (docker info), then run the command again; what it left behind is removed by the next backup, verify, restore or prune",
        ),
      );
    };
    process.once("beforeExit", stalled);
    try {
      await handler(context, command.opts() as Options, ...positional);
      interruption.throwIfAborted();
    } catch (error) {
      // Whatever error the abort surfaced as (a torn-down stream, a killed tool), the cause is the signal.
      process.exitCode = output.error(interruption.aborted ? interruption.reason : error);
    } finally {
      try {
        await releasers.release();
      } catch (error) {
        process.exitCode ||= output.error(error);
      }
      resume();
      process.removeListener("beforeExit", stalled);
    }
    // Cleanup is done: an interrupted command ends now, not when the last idle socket closes.
    if (interruption.aborted) process.exit(process.exitCode);
  };
}

/**
 * `engine: swarm` (issue 14) runs up, down, status, build and replica promote; every other command
 * works on this engine's containers by name and would not find a swarm's tasks: it says so.
 */
function refuseOnSwarm(loaded: LoadedConfig, command: Command, supported: boolean): LoadedConfig {
  if (loaded.config.engine !== "swarm" || supported) return loaded;
  const path: string[] = [];
  for (let current: Command | null = command; current?.parent; current = current.parent) path.unshift(current.name());
  throw new SwarmError(
    `pgfort ${path.join(" ")} does not work on a cluster with engine: swarm yet`,
    "on a swarm pgfort runs up, down, status, build, replica promote|remove and backup run|list|verify|prune (beside the agent service); run the others against a cluster with engine: docker",
  );
}
