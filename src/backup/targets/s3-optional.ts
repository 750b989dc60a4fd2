// S3 calls pgfort can do without. Stale-upload cleanup (ListMultipartUploads, AbortMultipartUpload)
// is maintenance: S3-compatible servers lack it (s3rver answers NotImplemented or MethodNotAllowed)
// and least-privilege policies deny it (AccessDenied). Such an answer costs one warning, never the
// backup; the same answer to a required call (PutObject, the upload itself, List, Get, Delete)
// stays an error. Pure: reads the error's shape, so it needs no SDK import.
import { z } from "zod";

export const OPTIONAL_S3_APIS = ["ListMultipartUploads", "AbortMultipartUpload"] as const;
export type OptionalS3Api = (typeof OPTIONAL_S3_APIS)[number];

/** The error codes that say "this server or these credentials do not offer the call", with their HTTP status. */
const UNSUPPORTED_CODES: ReadonlyMap<string, number> = new Map([
  ["NotImplemented", 501],
  ["AccessDenied", 403],
  ["MethodNotAllowed", 405],
]);

// What the SDK's S3ServiceException carries: `name` is the error code of the XML body (`Code` too,
// as an own property), `$metadata.httpStatusCode` the status. A body without a code (a HEAD, a proxy's
// HTML page) leaves the status as the name, or "UnknownError": then the status alone decides. A
// specific other code (SignatureDoesNotMatch is a 403 too) is a real failure.
const ServiceErrorShape = z.object({
  name: z.union([z.string(), z.number()]).optional(),
  Code: z.string().optional(),
  $metadata: z.object({ httpStatusCode: z.number().optional() }).optional(),
});
const GENERIC_NAME = /^(\d+|Unknown|UnknownError|Error)$/;

export interface UnsupportedAnswer {
  code: string;
  httpStatus: number | undefined;
}

/** The server's "not offered" answer in `cause`, or undefined for any other failure (unreachable, 500, a bug). */
export function unsupportedAnswer(cause: unknown): UnsupportedAnswer | undefined {
  const parsed = ServiceErrorShape.safeParse(cause);
  if (!parsed.success) return undefined;
  const httpStatus = parsed.data.$metadata?.httpStatusCode;
  const code = parsed.data.Code ?? (parsed.data.name === undefined ? undefined : String(parsed.data.name));
  if (code !== undefined && UNSUPPORTED_CODES.has(code)) return { code, httpStatus };
  if (code !== undefined && !GENERIC_NAME.test(code)) return undefined;
  for (const [known, status] of UNSUPPORTED_CODES) if (httpStatus === status) return { code: known, httpStatus };
  return undefined;
}

/** One line for the user: what is missing, what pgfort does without it, what they can do. */
export function describeMissingApi(api: OptionalS3Api, answer: UnsupportedAnswer, where: string): string {
  const status = answer.httpStatus === undefined ? "" : `, HTTP ${answer.httpStatus}`;
  const remedy =
    answer.code === "AccessDenied"
      ? "allow s3:ListBucketMultipartUploads and s3:AbortMultipartUpload to these credentials, or set a lifecycle rule (AbortIncompleteMultipartUpload) on the bucket"
      : "remove unfinished uploads with the server's own tools, or a lifecycle rule (AbortIncompleteMultipartUpload) where it has them";
  return `${where} answers ${api} with ${answer.code}${status}: stale multipart uploads are not cleaned up there, backups go on; ${remedy}`;
}
