import path from "node:path";

/** The installed package's root: images/ and conf.d/ live there (compiled code runs from dist/src). */
export const PACKAGE_ROOT = path.resolve(__dirname, "..", "..");

export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}
