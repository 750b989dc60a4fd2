// How a job container reaches an s3:// target: the credentials file in the secrets volume
// (written by src/cluster/agent.ts, never in Env), the region, and the endpoint as the container
// sees it. An endpoint on the host's loopback (a local MinIO, the tests' servers) is reached
// through the cluster network's gateway, the host's address on that bridge. Pure.
import { AWS_CREDENTIALS_FILE } from "../agent/contract";
import { SECRETS_DIR } from "../cluster/secrets";

export interface S3Settings {
  endpoint?: string | undefined;
  region?: string | undefined;
}

export interface S3JobAccess {
  env: Record<string, string>;
  /** The endpoint as the host names it (config, else the standard environment). */
  endpoint: string | undefined;
  /** The endpoint as the job names it in messages. */
  endpointInJob: string | undefined;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** Whether an endpoint URL names this host's loopback (unreachable from any container or other node). */
export function isLoopbackUrl(endpoint: string): boolean {
  try {
    return isLoopback(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

export function planS3Access(settings: S3Settings, gateway: string | undefined, env: NodeJS.ProcessEnv = process.env): S3JobAccess {
  const endpoint = settings.endpoint ?? env["AWS_ENDPOINT_URL_S3"] ?? env["AWS_ENDPOINT_URL"];
  const region = settings.region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1";
  let endpointInJob = endpoint;
  if (endpoint && gateway) {
    const url = new URL(endpoint);
    if (isLoopback(url.hostname)) {
      url.hostname = gateway;
      endpointInJob = url.toString().replace(/\/$/, "");
    }
  }
  return {
    env: {
      AWS_SHARED_CREDENTIALS_FILE: `${SECRETS_DIR}/${AWS_CREDENTIALS_FILE}`,
      AWS_REGION: region,
      ...(endpointInJob ? { PGFORT_S3_ENDPOINT: endpointInJob } : {}),
    },
    endpoint,
    endpointInJob,
  };
}
