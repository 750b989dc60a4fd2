import type { Command } from "commander";
import { loadConfig, type LoadedConfig } from "../config/load";
import { DockerClient } from "../docker/client";
import { Output } from "./output";

/** What every command gets: its output, the loaded config, and a Docker connection on demand. */
export interface CommandContext {
  output: Output;
  loadConfig(): Promise<LoadedConfig>;
  docker(): Promise<DockerClient>;
  /** Releasers run in reverse order after the command, even when it fails. */
  defer(release: () => Promise<void>): void;
}

export type CommandAction<Options> = (context: CommandContext, options: Options, ...args: string[]) => Promise<void>;

/** Wraps a command's action: global options, error printing, exit code. */
export function action<Options>(handler: CommandAction<Options>) {
  return async (...commanderArgs: unknown[]): Promise<void> => {
    const command = commanderArgs[commanderArgs.length - 1] as Command;
    const globals = command.optsWithGlobals<{ config?: string; json?: boolean }>();
    const output = new Output({ json: Boolean(globals.json) });
    const releasers: Array<() => Promise<void>> = [];
    let docker: DockerClient | undefined;
    const context: CommandContext = {
      output,
      loadConfig: () => loadConfig(globals.config),
      docker: async () => (docker ??= await DockerClient.connect()),
      defer: (release) => releasers.push(release),
    };
    const positional = commanderArgs.slice(0, -2).filter((value): value is string => typeof value === "string");
    try {
      await handler(context, command.opts() as Options, ...positional);
    } catch (error) {
      process.exitCode = output.error(error);
    } finally {
      for (const release of releasers.reverse()) {
        try {
          await release();
        } catch (error) {
          process.exitCode ||= output.error(error);
        }
      }
    }
  };
}
