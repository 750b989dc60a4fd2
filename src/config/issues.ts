import type { z } from "zod";
import { ConfigError } from "../errors";

/** One ConfigError for all of zod's issues: a `path: message` line each. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  what: string,
  formatPath: (key: string) => string = (key) => key,
): ConfigError {
  const lines = issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    const message = issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.join(", ")}` : issue.message;
    return path ? `${formatPath(path)}: ${message}` : message;
  });
  const keyHint = issues.some((issue) => issue.code === "unrecognized_keys") ? " (see DESIGN.md / README for the keys)" : "";
  return new ConfigError(`invalid ${what}: ${lines.join("; ")}`, `fix the ${what} and run again${keyHint}`);
}
