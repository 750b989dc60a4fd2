// Carries out an ImageBuildPlan through the engine's build API; decides nothing the plan could.
import type { Readable } from "node:stream";
import type { DockerClient, BuildEvent } from "../docker/client";
import { dockerMessage } from "../docker/client";
import { ImageBuildError } from "../errors";
import { createBuildContext, listContextFiles } from "./context";
import type { ImageBuildPlan } from "./plan";
import { defaultBase, SUPPORTED_MAJORS } from "../config/schema";
import { parseStepLine, StepOutput, type BuildStep } from "./progress";

export interface BuiltImage {
  tag: string;
  id: string;
  sizeBytes: number;
}

export interface BuildListener {
  onStep?(step: BuildStep): void;
  onOutput?(line: string): void;
}

/** Builds and tags the image. The engine tags only a finished build, so a failure leaves no half-built tag. */
export async function buildImage(
  docker: DockerClient,
  plan: ImageBuildPlan,
  listener: BuildListener = {},
  buildContext?: Readable,
): Promise<BuiltImage> {
  const context = buildContext ?? (await createBuildContext(await listContextFiles()));
  const output = new StepOutput();
  let current: BuildStep | undefined;
  const onEvent = (event: BuildEvent): void => {
    const text = event.stream ?? event.status ?? "";
    for (const line of text.split("\n")) {
      const step = parseStepLine(line);
      if (step) {
        current = step;
        listener.onStep?.(step);
      } else if (line.trim()) {
        listener.onOutput?.(line);
      }
    }
    output.push(text);
  };
  try {
    const stream = await docker.buildImage(context, {
      t: plan.tag,
      dockerfile: plan.dockerfile,
      buildargs: plan.buildArgs,
      labels: plan.labels,
      nocache: plan.noCache,
      rm: true,
      forcerm: true, // remove the intermediate containers of failed steps too
    });
    await docker.followBuild(stream, onEvent);
  } catch (cause) {
    throw await explainFailure(docker, plan, current, output.tail(), cause);
  }
  const image = await docker.inspectImage(plan.tag);
  return { tag: plan.tag, id: image.Id, sizeBytes: image.Size };
}

async function explainFailure(
  docker: DockerClient,
  plan: ImageBuildPlan,
  step: BuildStep | undefined,
  tail: string[],
  cause: unknown,
): Promise<ImageBuildError> {
  const message = dockerMessage(cause).trim();
  const atFrom = !step || /^FROM\b/i.test(step.instruction);
  if (atFrom && !(await docker.imageExists(plan.base))) {
    return new ImageBuildError(
      `the base image ${plan.base} is not on this host and cannot be pulled (${firstLine(message)})`,
      /^debian:[a-z]+(-slim)?$/.test(plan.base)
        ? `build it offline with: bash scripts/base-image.sh ${plan.base}`
        : `docker pull or docker load ${plan.base} first, or use --base ${defaultBase(plan.pgMajor)}`,
      { cause },
    );
  }
  const missingServer = new RegExp(`Unable to locate package postgresql-${plan.pgMajor}$`);
  if (tail.some((line) => missingServer.test(line.trim()))) {
    return new ImageBuildError(
      `PostgreSQL ${plan.pgMajor} is not in the package repositories of ${plan.base}`,
      `use a base image whose apt sources include the PGDG repository (apt.postgresql.org) for PostgreSQL ${plan.pgMajor}, or a major Debian packages: ${Object.entries(SUPPORTED_MAJORS)
        .map(([major, base]) => `--pg-major ${major} (${base})`)
        .join(", ")}`,
      { cause },
    );
  }
  const where = step ? `step ${step.step}/${step.total} (${step.instruction.slice(0, 80)})` : "the build";
  const output = tail.length ? `\n--- output of the failing step ---\n${tail.join("\n")}` : "";
  return new ImageBuildError(
    `${where} failed: ${firstLine(message)}${output}`,
    "fix the cause shown above and run pgfort build again (add --no-cache to rule out a stale layer)",
    { cause },
  );
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
