import assert from "node:assert/strict";
import { planS3Access } from "../../../src/handoff/s3-access";
import { agentTargetUrl, fileTargetDirectory, planAgentConfig, planAgentEnv, planAwsCredentials } from "../../../src/agent/plan";
import { AgentConfigSchema } from "../../../src/agent/contract";
import { parseConfig, type LoadedConfig } from "../../../src/config/load";

function loaded(yaml: string): LoadedConfig {
  return { config: parseConfig(yaml), file: "/srv/app/pgfort.yaml", baseDir: "/srv/app", stateDir: "/srv/app/.pgfort/app" };
}

describe("the agent's config file", function () {
  it("holds the user's config text, the target as the agent sees it, and the servers with the primary first", function () {
    const text = "cluster: app\nbackups: { target: file://./backups }\n";
    const written = planAgentConfig(loaded(text), text, "primary", ["r2", "primary", "r1"], (node) => `app-${node}`);
    assert.deepEqual(written, {
      formatVersion: 1,
      configText: text,
      target: "file:///var/lib/pgfort/target",
      servers: ["app-primary", "app-r1", "app-r2"],
      primaryNode: "primary",
    });
    assert.ok(AgentConfigSchema.safeParse(written).success);
  });

  it('is "{}" for built-in defaults, follows a promotion, and keeps an s3:// target as it is', function () {
    const written = planAgentConfig(loaded("backups: { target: s3://bucket/prefix }"), undefined, "r1", ["primary", "r1"], (node) => `app-${node}`);
    assert.equal(written.configText, "{}");
    assert.equal(written.target, "s3://bucket/prefix");
    assert.deepEqual(written.servers, ["app-r1", "app-primary"]);
    assert.equal(written.primaryNode, "r1");
  });

  it("resolves a file:// target against the config's directory", function () {
    assert.equal(fileTargetDirectory(loaded("backups: { target: file://./backups }")), "/srv/app/backups");
    assert.equal(fileTargetDirectory(loaded("backups: { target: file:///var/backups/pg }")), "/var/backups/pg");
    assert.equal(fileTargetDirectory(loaded("backups: { target: s3://bucket }")), undefined);
    assert.equal(agentTargetUrl("file:///anything"), "file:///var/lib/pgfort/target");
  });
});

describe("the agent's S3 credentials", function () {
  it("become a shared-credentials file, the session token included", function () {
    assert.equal(
      planAwsCredentials({ AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "s3cr3t", AWS_SESSION_TOKEN: "tok" }),
      "[default]\naws_access_key_id = AKID\naws_secret_access_key = s3cr3t\naws_session_token = tok\n",
    );
    assert.equal(planAwsCredentials({ AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "s3cr3t" }), "[default]\naws_access_key_id = AKID\naws_secret_access_key = s3cr3t\n");
    assert.equal(planAwsCredentials({ AWS_ACCESS_KEY_ID: "AKID" }), undefined);
  });

  it("reach the agent as a file name in Env, with endpoint and region as a hand-off sets them, never as values", function () {
    const env = { AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "s3cr3t", AWS_SESSION_TOKEN: "tok", AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000", AWS_REGION: "eu-west-1" };
    const access = planS3Access({}, "172.18.0.1", env);
    const planned = planAgentEnv("s3://bucket/p", access.env);
    // The host's loopback endpoint, as the agent reaches it: through its network's gateway.
    assert.deepEqual(planned, ["AWS_SHARED_CREDENTIALS_FILE=/run/secrets/aws-credentials", "AWS_REGION=eu-west-1", "PGFORT_S3_ENDPOINT=http://172.18.0.1:9000"]);
    assert.doesNotMatch(planned.join("\n"), /AKID|s3cr3t|tok\b/);
    assert.deepEqual(planAgentEnv("file://./backups", access.env), []);
  });
});
