// How a job container reaches an s3:// target: the host's credentials as an AWS shared-credentials
// file in the secrets volume (never in Env), the region, and the endpoint as the container sees it.
// An endpoint on the host's loopback (a local MinIO, the tests' servers) is reached through the
// cluster network's gateway, the host's address on that bridge. Pure.
import { AWS_CREDENTIALS_FILE } from "../agent/contract";
import { SECRETS_DIR } from "../cluster/secrets";
import type { SecretFile } from "../cluster/secrets-volume";

export interface S3Access {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  region: string;
  endpoint: string | undefined;
}

export interface S3JobAccess {
  file: SecretFile;
  env: Record<string, string>;
  /** The endpoint as the job names it in messages, back to the host's. */
  endpointInJob: string | undefined;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

export function planS3Access(access: S3Access, gateway: string | undefined): S3JobAccess {
  const lines = ["[default]", `aws_access_key_id = ${access.accessKeyId}`, `aws_secret_access_key = ${access.secretAccessKey}`];
  if (access.sessionToken) lines.push(`aws_session_token = ${access.sessionToken}`);
  let endpointInJob = access.endpoint;
  if (access.endpoint && gateway) {
    const url = new URL(access.endpoint);
    if (isLoopback(url.hostname)) {
      url.hostname = gateway;
      endpointInJob = url.toString().replace(/\/$/, "");
    }
  }
  return {
    file: { name: AWS_CREDENTIALS_FILE, content: `${lines.join("\n")}\n` },
    env: {
      AWS_SHARED_CREDENTIALS_FILE: `${SECRETS_DIR}/${AWS_CREDENTIALS_FILE}`,
      AWS_REGION: access.region,
      ...(endpointInJob ? { PGFORT_S3_ENDPOINT: endpointInJob } : {}),
    },
    endpointInJob,
  };
}
