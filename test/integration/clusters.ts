import { randomBytes } from "node:crypto";

export const TEST_CLUSTER_PREFIX = "t";
/** Clusters created by the running test; the afterEach hook removes everything labelled with them. */
export const clustersInThisTest = new Set<string>();

export function uniqueClusterName(): string {
  const name = `${TEST_CLUSTER_PREFIX}${randomBytes(4).toString("hex")}`;
  clustersInThisTest.add(name);
  return name;
}
