import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { ConfigError } from "../errors";
import { formatIssues } from "./issues";
import { applyMajorState, readMajorState, type MajorState } from "./major-state";
import { ConfigSchema, type Config } from "./schema";

export const DEFAULT_CONFIG_FILE = "pgfort.yaml";

export interface LoadedConfig {
  config: Config;
  /** The file read, or undefined when the built-in defaults are in use. */
  file: string | undefined;
  /** Directory that relative paths (file:// targets, state) are resolved against. */
  baseDir: string;
  /** `.pgfort/<cluster>/`: generated secrets and rendered conf.d. */
  stateDir: string;
  /** After `pgfort upgrade`: what runs (config.image already says it) and what is kept for --rollback. */
  major?: MajorState | undefined;
  /** image.pgMajor as the config file says it (config.image.pgMajor is what runs). */
  configuredMajor?: number;
}

/** Parses and validates a config text; every problem becomes one line of a single ConfigError. */
export function parseConfig(text: string, source = DEFAULT_CONFIG_FILE): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (cause) {
    const where = cause instanceof YAMLParseError ? ` at line ${cause.linePos?.[0]?.line ?? "?"}` : "";
    throw new ConfigError(`${source} is not valid YAML${where}`, "fix the YAML syntax", { cause });
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw formatIssues(parsed.error.issues, `config ${source}`);
  return parsed.data;
}

/**
 * Reads `--config FILE`, else ./pgfort.yaml, else the built-in defaults. A file named explicitly
 * must exist; the default one may not.
 */
export async function loadConfig(explicitFile?: string, cwd = process.cwd()): Promise<LoadedConfig> {
  const file = path.resolve(cwd, explicitFile ?? DEFAULT_CONFIG_FILE);
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== "ENOENT" || explicitFile !== undefined) {
      throw new ConfigError(`cannot read the config file ${file}`, "check the path given to --config", { cause });
    }
  }
  const config = text === undefined ? parseConfig("{}", "built-in defaults") : parseConfig(text, file);
  const baseDir = text === undefined ? cwd : path.dirname(file);
  const stateDir = path.join(baseDir, ".pgfort", config.cluster);
  const major = await readMajorState(stateDir);
  const configuredMajor = config.image.pgMajor;
  config.image = applyMajorState(config.image, major);
  return { config, file: text === undefined ? undefined : file, baseDir, stateDir, major, configuredMajor };
}
