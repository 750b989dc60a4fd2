import { randomBytes } from "node:crypto";

export const TEST_CLUSTER_PREFIX = "t";
/** Clusters created by the running test; the afterEach hook removes everything labelled with them. */
export const clustersInThisTest = new Set<string>();
/** Every cluster this run created: the leak check looks at these only, so runs side by side do not fail each other. */
export const clustersOfThisRun = new Set<string>();

export function uniqueClusterName(): string {
  const name = `${TEST_CLUSTER_PREFIX}${randomBytes(4).toString("hex")}`;
  clustersInThisTest.add(name);
  clustersOfThisRun.add(name);
  return name;
}
