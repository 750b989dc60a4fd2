import { readFileSync } from "node:fs";
import { z } from "zod";
import { packagePath } from "./paths";

/** pgfort's version, from package.json (recorded in image labels and backup manifests). */
export const VERSION = z
  .object({ version: z.string() })
  .parse(JSON.parse(readFileSync(packagePath("package.json"), "utf8"))).version;
