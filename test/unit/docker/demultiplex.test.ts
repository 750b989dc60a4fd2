import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { Demultiplexer } from "../../../src/docker/demultiplex";

function frame(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** Re-chunks a buffer at random sizes, including cuts inside headers. */
function* chunks(data: Buffer): Generator<Buffer> {
  let offset = 0;
  while (offset < data.length) {
    const size = 1 + Math.floor(Math.random() * 13);
    yield data.subarray(offset, offset + size);
    offset += size;
  }
}

describe("Demultiplexer", function () {
  it("passes stdout bytes through untouched and hands stderr aside, whatever the chunking", async function () {
    const stdout = [randomBytes(100), randomBytes(3), Buffer.from([0xff, 0xfe, 0x00])];
    const stderr = ["warning: one\n", "warning: two\n"];
    const stream = Buffer.concat([
      frame(1, stdout[0]!),
      frame(2, Buffer.from(stderr[0]!)),
      frame(1, stdout[1]!),
      frame(2, Buffer.from(stderr[1]!)),
      frame(1, stdout[2]!),
    ]);
    const received: Buffer[] = [];
    let errors = "";
    await pipeline(
      Readable.from(chunks(stream)),
      new Demultiplexer((chunk) => (errors += chunk.toString())),
      new Writable({ write: (chunk: Buffer, _encoding, done) => (received.push(chunk), done()) }),
    );
    assert.deepEqual(Buffer.concat(received), Buffer.concat(stdout));
    assert.equal(errors, stderr.join(""));
  });

  it("respects backpressure from a slow consumer", async function () {
    const payload = randomBytes(64 * 1024);
    let produced = 0;
    let maxAhead = 0;
    let consumed = 0;
    const source = new Readable({
      read() {
        if (produced >= 64) return this.push(null);
        produced += 1;
        this.push(frame(1, payload));
      },
    });
    await pipeline(
      source,
      new Demultiplexer(),
      new Writable({
        highWaterMark: 16 * 1024,
        write: async (chunk: Buffer, _encoding, done) => {
          consumed += chunk.length;
          maxAhead = Math.max(maxAhead, produced * payload.length - consumed);
          await sleep(1);
          done();
        },
      }),
    );
    assert.equal(consumed, 64 * payload.length);
    // Without backpressure the producer would run all 4 MiB ahead of the consumer.
    assert.ok(maxAhead < 1024 * 1024, `producer ran ${maxAhead} bytes ahead`);
  });

  it("fails on a stream cut inside a frame", async function () {
    const cut = frame(1, randomBytes(50)).subarray(0, 30);
    await assert.rejects(pipeline(Readable.from([cut]), new Demultiplexer(), new Writable({ write: (_c, _e, done) => done() })), /ended inside a frame/);
  });
});
