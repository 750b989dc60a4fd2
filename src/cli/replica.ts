// `pgfort replica add | promote | remove NAME`.
import type { Command } from "commander";
import { refreshAgentConfig } from "../cluster/agent";
import { prepareHostFacts } from "../cluster/up";
import { addReplica } from "../replica/add";
import { promoteReplica } from "../replica/promote";
import { promoteSwarm } from "../swarm/promote";
import { removeSwarmReplica } from "../swarm/replica";
import { SwarmError } from "../errors";
import { removeReplica } from "../replica/remove";
import { confirm } from "./confirm";
import { action } from "./context";

export function registerReplica(program: Command): void {
  const replica = program.command("replica").description("streaming replicas: add, promote, remove");

  replica
    .command("add <name>")
    .description("create a hot standby streaming from the primary through its own slot")
    .action(
      action(async ({ output, loadConfig, docker }, _options, name = "") => {
        const loaded = await loadConfig();
        if (loaded.config.engine === "swarm") {
          throw new SwarmError(
            `on a swarm a replica is pinned to a node, so pgfort replica add does not make one`,
            `add it to pgfort.yaml (replicas: - { name: ${name || "NAME"}, node: <swarm node hostname> }) and run pgfort up: it creates the service, which makes its slot and base backup itself`,
          );
        }
        const engine = await docker();
        output.info(`adding replica ${name}: base backup from the primary, then streaming`);
        const result = await addReplica(engine, loaded, await prepareHostFacts(engine, loaded, { onInfo: (message) => output.info(message) }), name, {
          existingIsError: true,
        });
        await refreshAgentConfig(engine, loaded);
        output.result(result, `${result.container}: streaming from the primary`);
      }, { swarm: true }),
    );

  replica
    .command("promote <name>")
    .description("make the standby the primary; a running old primary is stopped (fenced) first")
    .option("--yes", "do not ask before fencing a running primary")
    .action(
      action<{ yes?: boolean }>(async ({ output, loadConfig, docker }, options, name = "") => {
        const loaded = await loadConfig();
        if (loaded.config.engine === "swarm") {
          const swarm = await promoteSwarm(await docker(), loaded, name, (question) => confirm(question, options.yes));
          output.result(swarm, [
            `${swarm.primary} is the primary now`,
            swarm.fenceVerified ? `${swarm.former} was scaled to zero and seen stopped (fenced)` : `${swarm.former} is scaled to zero; its node was down, so its stop was not seen: Swarm shuts it down when the node returns`,
            ...swarm.followers.map((follower) => `${follower} follows ${swarm.primary} now (restarted with it as upstream)`),
            ...swarm.moved.map((moved) => `${moved.service} moves to ${moved.swarmNode}, beside the new primary${moved.role === "agent" ? ": WAL archiving and the schedules go on there" : ": its clients reconnect there"}`),
          ]);
          return;
        }
        const result = await promoteReplica(await docker(), loaded, name, (question) => confirm(question, options.yes));
        // The agent reads its config file before every run: its next job follows the new primary.
        await refreshAgentConfig(await docker(), loaded);
        output.result(result, [
          `${result.primary} is the primary now`,
          ...(result.fenced ? [`${result.former} was stopped (fenced); do not start it again as a primary`] : []),
          ...(result.poolerFollowed ? ["the pooler held its clients during the promotion and now sends them to the new primary"] : []),
          "replicas in the config still follow the former primary: pgfort up re-creates them from the new one",
        ]);
      }, { swarm: true }),
    );

  replica
    .command("remove <name>")
    .description("stop and remove the replica and drop its slot on the primary")
    .option("--volumes", "also remove its volumes")
    .option("--yes", "do not ask")
    .action(
      action<{ volumes?: boolean; yes?: boolean }>(async ({ output, loadConfig, docker }, options, name = "") => {
        const loaded = await loadConfig();
        await confirm(`remove replica ${name}${options.volumes ? " and its volumes" : ""}?`, options.yes);
        if (loaded.config.engine === "swarm") {
          const swarm = await removeSwarmReplica(await docker(), loaded, name, { volumes: Boolean(options.volumes) });
          output.result(swarm, [
            `${swarm.service} removed; slot ${swarm.slotDropped ? "dropped" : "was already gone"}`,
            ...(swarm.volumes !== undefined ? [`its node: ${swarm.volumes}`] : []),
            ...(swarm.stillConfigured ? [`${name} is still in pgfort.yaml: remove it from replicas:, or the next pgfort up creates it again`] : []),
          ]);
          return;
        }
        const result = await removeReplica(await docker(), loaded, name, { volumes: Boolean(options.volumes) });
        await refreshAgentConfig(await docker(), loaded);
        output.result(result, `${result.container} removed; slot ${result.slotDropped ? "dropped" : "was already gone"}${result.volumes.length ? "; volumes removed" : ""}`);
      }, { swarm: true }),
    );
}
