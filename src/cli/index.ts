#!/usr/bin/env node
// pgfort's command line: parses flags and hands each command to one library function.
// First: Ctrl-C during start-up (loading the modules below takes seconds on a busy host) must
// already mean "clean up and exit 130", not Node's default kill.
import { installInterruptHandlers } from "./interrupt";
if (require.main === module) installInterruptHandlers();
import { Command, CommanderError } from "commander";
import { VERSION } from "../version";
import { registerBuild } from "./build";
import { registerCluster } from "./cluster";
import { registerReplica } from "./replica";
import { registerBackup, registerRestore } from "./backup";
import { registerRestorePoint } from "./restore-point";
import { registerSchedule } from "./schedule";
import { registerMonitoring } from "./monitoring";
import { registerJob } from "./job";
import { registerAgent } from "./agent";
import { registerUpgrade } from "./upgrade";
import { registerTls } from "./tls";
import { registerCompose } from "./compose";
import { registerAdopt } from "./adopt";
import { registerSwarmNode } from "./swarm-node";

export function createProgram(): Command {
  const program = new Command("pgfort")
    .description("PostgreSQL in Docker, production-grade")
    .version(VERSION)
    .option("--config <file>", "config file (default: pgfort.yaml, else built-in defaults)")
    .option("--json", "machine-readable output: a JSON result on stdout, JSON events on stderr")
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`${text.trimEnd()}\nhint: see pgfort --help\n`) });
  registerBuild(program);
  registerCluster(program);
  registerReplica(program);
  registerBackup(program);
  registerRestore(program);
  registerRestorePoint(program);
  registerSchedule(program);
  registerMonitoring(program);
  registerJob(program);
  registerAgent(program);
  registerUpgrade(program);
  registerTls(program);
  registerCompose(program);
  registerAdopt(program);
  registerSwarmNode(program);
  const configure = (command: Command, path: string): void => {
    command.exitOverride().configureOutput({
      outputError: (text, write) => write(`${text.trimEnd()}\nhint: see pgfort ${path} --help\n`),
    });
    for (const sub of command.commands) configure(sub, `${path} ${sub.name()}`);
  };
  for (const command of program.commands) configure(command, command.name());
  return program;
}

async function main(): Promise<void> {
  // The AWS SDK warns on every run under Node 20 that its future versions need Node 22: said once
  // in the README, here it would only break --json's promise of JSON lines on stderr.
  process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true";
  try {
    await createProgram().parseAsync(process.argv);
  } catch (error) {
    // Commander has already printed its one-line cause; help and --version exit 0.
    if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 ? 0 : 2;
    else throw error;
  }
}

if (require.main === module) void main();
