import assert from "node:assert/strict";
import { mapEngineError } from "../../../src/docker/engine-errors";
import {
  ConfigError,
  DockerEngineError,
  DockerPermissionError,
  DockerUnavailableError,
  ImageMissingError,
  NameConflictError,
  NoSpaceError,
  PortInUseError,
  SwarmError,
} from "../../../src/errors";

// Shapes as dockerode 4 / docker-modem throw them, captured from a real engine (Docker 26).
function socketError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, errno: -1, syscall: "connect", address: "/var/run/docker.sock" });
}
function apiError(statusCode: number, reason: string, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) ${reason} - ${message} `), { statusCode, reason, json: { message } });
}

describe("mapEngineError", function () {
  it("says what to do when the swarm has lost its leader (captured from Docker 20.10 after a manager was killed)", function () {
    const error = mapEngineError(
      apiError(500, "server error", "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online."),
      "inspect service app-r1",
    );
    assert.ok(error instanceof SwarmError);
    assert.match(error.message, /^cannot inspect service app-r1: the swarm has no leader/);
    assert.match(error.hint, /run the command again/);
  });

  it("names a user outside the docker group, with the fix", function () {
    const error = mapEngineError(socketError("EACCES", "connect EACCES /var/run/docker.sock"), undefined);
    assert.ok(error instanceof DockerPermissionError);
    assert.equal(error.message, "permission denied on the Docker socket /var/run/docker.sock");
    assert.equal(mapEngineError(socketError("EACCES", "connect EACCES"), "list networks").message, "cannot list networks: permission denied on the Docker socket /var/run/docker.sock");
    assert.match(error.hint, /docker group/);
    assert.equal((error.cause as Error).message, "connect EACCES /var/run/docker.sock");
  });

  for (const code of ["ECONNREFUSED", "ENOENT", "EPIPE"]) {
    it(`maps ${code} to DockerUnavailableError`, function () {
      const error = mapEngineError(socketError(code, `connect ${code} /var/run/docker.sock`), "create network app-net");
      assert.ok(error instanceof DockerUnavailableError);
      assert.equal(error.message, "cannot create network app-net: no Docker engine answers at /var/run/docker.sock");
      assert.equal((error.cause as { code?: string }).code, code);
    });
  }

  it("maps a hung-up socket (no errno) to DockerUnavailableError", function () {
    assert.ok(mapEngineError(new Error("socket hang up"), "attach to container app-x") instanceof DockerUnavailableError);
  });

  it("tells a taken port from other server errors", function () {
    const taken = apiError(
      500,
      "server error",
      "driver failed programming external connectivity on endpoint app-primary (02c7): Error starting userland proxy: listen tcp4 127.0.0.1:33433: bind: address already in use",
    );
    const error = mapEngineError(taken, "start container app-primary");
    assert.ok(error instanceof PortInUseError);
    assert.match(error.hint, /primary\.port/);
    assert.ok(mapEngineError(apiError(500, "server error", "Bind for 0.0.0.0:5432 failed: port is already allocated"), "start") instanceof PortInUseError);
    const other = mapEngineError(apiError(500, "server error", "OCI runtime create failed"), "start container app-primary");
    assert.ok(other instanceof DockerEngineError);
    assert.equal(other.message, "cannot start container app-primary: OCI runtime create failed");
  });

  it("maps name conflicts (409) of containers and networks", function () {
    const container = apiError(409, "unexpected", 'Conflict. The container name "/app-primary" is already in use by container "1287". You have to remove (or rename) that container to be able to reuse that name.');
    assert.ok(mapEngineError(container, "rename container app-x to app-primary") instanceof NameConflictError);
    assert.ok(mapEngineError(apiError(409, "unexpected", "network with name app-net already exists"), "create network app-net") instanceof NameConflictError);
    // 409 for "container is not running" is no name conflict
    assert.ok(mapEngineError(apiError(409, "unexpected", "Container 1287 is not running"), "exec") instanceof DockerEngineError);
  });

  it("maps a missing image, but not a missing container, to ImageMissingError", function () {
    assert.ok(mapEngineError(apiError(404, "no such container", "No such image: nope/nope:1"), "create container app-x") instanceof ImageMissingError);
    assert.ok(mapEngineError(apiError(404, "no such container", "No such container: app-x"), "rename container app-x") instanceof DockerEngineError);
  });

  it("maps a full disk", function () {
    const full = apiError(500, "server error", "write /var/lib/docker/volumes/app-primary-data/_data/x: no space left on device");
    const error = mapEngineError(full, "copy files into container app-secrets");
    assert.ok(error instanceof NoSpaceError);
    assert.match(error.hint, /docker system df/);
  });

  it("passes a PgfortError through unchanged", function () {
    const original = new ConfigError("bad", "fix it");
    assert.equal(mapEngineError(original, "anything"), original);
  });
});
