// The classification runs on errors the real AWS SDK makes from real HTTP answers: a local server
// answers each call the way s3rver, a least-privilege policy or a broken proxy does.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ListMultipartUploadsCommand, S3Client } from "@aws-sdk/client-s3";
import { describeMissingApi, unsupportedAnswer } from "../../../src/backup/targets/s3-optional";
import { S3Target } from "../../../src/backup/targets/s3";
import { BackupTargetError } from "../../../src/errors";

// The SDK warns under Node 20 that its future versions need Node 22.
process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] = "true";

interface Answer {
  status: number;
  body?: string;
}
type Route = (request: IncomingMessage) => Answer | undefined;

const errorXml = (code: string, message = "no") => `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
const NOT_IMPLEMENTED: Answer = { status: 501, body: errorXml("NotImplemented", "A parameter you provided implies functionality that is not implemented") };
const ACCESS_DENIED: Answer = { status: 403, body: errorXml("AccessDenied", "Access Denied") };
const METHOD_NOT_ALLOWED: Answer = { status: 405, body: errorXml("MethodNotAllowed", "The specified method is not allowed against this resource.") };
const SIGNATURE_MISMATCH: Answer = { status: 403, body: errorXml("SignatureDoesNotMatch") };
const INTERNAL_ERROR: Answer = { status: 500, body: errorXml("InternalError") };

const ONE_UPLOAD = `<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult><Bucket>bucket</Bucket><IsTruncated>false</IsTruncated>
<Upload><Key>prefix/app/logical/x/data</Key><UploadId>u1</UploadId><Initiated>2020-01-01T00:00:00.000Z</Initiated></Upload>
</ListMultipartUploadsResult>`;

const isUploadsListing = (request: IncomingMessage) => request.method === "GET" && /[?&]uploads(=|&|$)/.test(request.url ?? "");
const isUploadAbort = (request: IncomingMessage) => request.method === "DELETE" && /[?&]uploadId=/.test(request.url ?? "");

class ScriptedS3 {
  readonly requests: string[] = [];
  private constructor(private readonly server: Server) {}

  static async start(routes: Route[]): Promise<ScriptedS3> {
    let scripted: ScriptedS3 | undefined;
    const server = createServer((request: IncomingMessage, response: ServerResponse) => {
      scripted?.requests.push(`${request.method ?? "?"} ${request.url ?? ""}`);
      request.resume();
      request.on("end", () => {
        const answer = routes.map((route) => route(request)).find((candidate) => candidate !== undefined) ?? { status: 200, body: "" };
        response.writeHead(answer.status, answer.body ? { "content-type": "application/xml" } : {});
        response.end(request.method === "HEAD" ? undefined : answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    scripted = new ScriptedS3(server);
    return scripted;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The error the SDK throws for ListMultipartUploads against a server that gives `answer`. */
async function sdkError(answer: Answer): Promise<unknown> {
  const server = await ScriptedS3.start([() => answer]);
  try {
    const client = new S3Client({ endpoint: server.endpoint, region: "us-east-1", forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: "a", secretAccessKey: "b" } });
    await client.send(new ListMultipartUploadsCommand({ Bucket: "bucket" }));
  } catch (error) {
    return error;
  } finally {
    await server.stop();
  }
  throw new Error("the SDK call succeeded");
}

function target(endpoint: string, warnings: string[]): S3Target {
  process.env["AWS_ACCESS_KEY_ID"] ??= "unit";
  process.env["AWS_SECRET_ACCESS_KEY"] ??= "unit";
  return new S3Target("bucket", "prefix", { endpoint, region: "us-east-1" }, { onWarning: (message) => warnings.push(message) });
}

describe("optional S3 calls", function () {
  describe("unsupportedAnswer, on the SDK's own errors", function () {
    for (const [answer, code] of [
      [NOT_IMPLEMENTED, "NotImplemented"],
      [ACCESS_DENIED, "AccessDenied"],
      [METHOD_NOT_ALLOWED, "MethodNotAllowed"],
    ] as const) {
      it(`recognises ${code} (HTTP ${answer.status})`, async function () {
        assert.deepEqual(unsupportedAnswer(await sdkError(answer)), { code, httpStatus: answer.status });
      });
    }

    it("recognises a bare 501 or 403 without an error body by its status", async function () {
      assert.deepEqual(unsupportedAnswer(await sdkError({ status: 501 })), { code: "NotImplemented", httpStatus: 501 });
      assert.deepEqual(unsupportedAnswer(await sdkError({ status: 403 })), { code: "AccessDenied", httpStatus: 403 });
    });

    it("does not excuse other failures: a bad signature (also 403), a server error, no server, a plain Error", async function () {
      assert.equal(unsupportedAnswer(await sdkError(SIGNATURE_MISMATCH)), undefined);
      assert.equal(unsupportedAnswer(await sdkError(INTERNAL_ERROR)), undefined);
      const closed = await ScriptedS3.start([]);
      const endpoint = closed.endpoint;
      await closed.stop();
      const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: "a", secretAccessKey: "b" } });
      const refused = await client.send(new ListMultipartUploadsCommand({ Bucket: "bucket" })).then(
        () => assert.fail("no server answers there"),
        (error: unknown) => error,
      );
      assert.equal(unsupportedAnswer(refused), undefined);
      assert.equal(unsupportedAnswer(new Error("AccessDenied")), undefined);
      assert.equal(unsupportedAnswer("NotImplemented"), undefined);
    });

    it("says in one line what is missing, that backups go on, and what to do", function () {
      const line = describeMissingApi("ListMultipartUploads", { code: "AccessDenied", httpStatus: 403 }, "the S3 server http://s3 (bucket b)");
      assert.doesNotMatch(line, /\n/);
      assert.match(line, /^the S3 server http:\/\/s3 \(bucket b\) answers ListMultipartUploads with AccessDenied, HTTP 403: .*backups go on; allow s3:ListBucketMultipartUploads/);
    });
  });

  describe("S3Target against a server without them", function () {
    let server: ScriptedS3 | undefined;
    afterEach(async function () {
      await server?.stop();
      server = undefined;
    });

    it("s3rver's NotImplemented listing: 0 aborted, one warning however often it is asked, not asked again", async function () {
      server = await ScriptedS3.start([(request) => (isUploadsListing(request) ? NOT_IMPLEMENTED : undefined)]);
      const warnings: string[] = [];
      const s3 = target(server.endpoint, warnings);
      assert.equal(await s3.abortStaleUploads(new Date()), 0);
      assert.equal(await s3.abortStaleUploads(new Date()), 0);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] ?? "", new RegExp(`^the S3 server ${server.endpoint} \\(bucket bucket\\) answers ListMultipartUploads with NotImplemented, HTTP 501: `));
      assert.ok(server.requests.some((line) => line.startsWith("GET") && line.includes("uploads")));
      const listings = server.requests.length;
      await s3.abortStaleUploads(new Date());
      assert.equal(server.requests.length, listings, "a known-missing call is not sent again");
    });

    it("calls in flight at once still give one warning", async function () {
      server = await ScriptedS3.start([(request) => (isUploadsListing(request) ? NOT_IMPLEMENTED : undefined)]);
      const warnings: string[] = [];
      const s3 = target(server.endpoint, warnings);
      assert.deepEqual(await Promise.all([s3.abortStaleUploads(new Date()), s3.abortStaleUploads(new Date())]), [0, 0]);
      assert.equal(warnings.length, 1);
    });

    it("a listing that works and an abort that is MethodNotAllowed: one warning, the run goes on", async function () {
      server = await ScriptedS3.start([
        (request) => (isUploadsListing(request) ? { status: 200, body: ONE_UPLOAD } : undefined),
        (request) => (isUploadAbort(request) ? METHOD_NOT_ALLOWED : undefined),
      ]);
      const warnings: string[] = [];
      assert.equal(await target(server.endpoint, warnings).abortStaleUploads(new Date()), 0);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] ?? "", /answers AbortMultipartUpload with MethodNotAllowed, HTTP 405/);
    });

    it("a listing that fails for another reason (500) is still an error, naming the target", async function () {
      server = await ScriptedS3.start([(request) => (isUploadsListing(request) ? INTERNAL_ERROR : undefined)]);
      const warnings: string[] = [];
      await assert.rejects(target(server.endpoint, warnings).abortStaleUploads(new Date()), (error: unknown) => {
        assert.ok(error instanceof BackupTargetError);
        assert.match(error.message, /cannot list multipart uploads in s3:\/\/bucket\/prefix \(InternalError/);
        return true;
      });
      assert.deepEqual(warnings, []);
    });

    it("a required call answered the same way fails with the bucket, the endpoint and what to check", async function () {
      server = await ScriptedS3.start([(request) => (request.method === "PUT" ? ACCESS_DENIED : undefined)]);
      const warnings: string[] = [];
      await assert.rejects(target(server.endpoint, warnings).writeText("app/logical/x/manifest.json", "{}"), (error: unknown) => {
        assert.ok(error instanceof BackupTargetError);
        assert.match(error.message, /^cannot write s3:\/\/bucket\/prefix\/app\/logical\/x\/manifest\.json \(AccessDenied: Access Denied; S3 server http:\/\/127\.0\.0\.1:\d+\)$/);
        assert.match(error.hint, /may not use bucket bucket: backups need s3:PutObject/);
        return true;
      });
      await server.stop();
      server = await ScriptedS3.start([(request) => (request.method === "PUT" ? NOT_IMPLEMENTED : undefined)]);
      await assert.rejects(target(server.endpoint, warnings).writeText("k", "{}"), (error: unknown) => {
        assert.ok(error instanceof BackupTargetError);
        assert.match(error.hint, /does not implement a call backups need/);
        return true;
      });
      assert.deepEqual(warnings, []);
    });
  });
});
