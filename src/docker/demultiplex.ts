// Docker multiplexes a non-TTY container's stdout and stderr into one stream of frames:
// [stream type: 1 byte (1 stdout, 2 stderr)][3 zero bytes][payload size: uint32 BE][payload].
// Hand-written because docker-modem's demuxStream writes from a 'data' handler and ignores
// write()'s return value (no backpressure), and testcontainers' decodes to UTF-8 text, which
// corrupts binary output such as a dump. This Transform passes stdout bytes through untouched,
// with backpressure, and hands stderr to a callback.
import { Transform, type TransformCallback } from "node:stream";

const HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;

export class Demultiplexer extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  private frameType = 0;
  private frameRemaining = 0;

  constructor(private readonly onStderr: (chunk: Buffer) => void = () => undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.frameRemaining === 0) {
        if (data.length < HEADER_BYTES) {
          this.pending = Buffer.from(data);
          break;
        }
        this.frameType = data[0] ?? 0;
        this.frameRemaining = data.readUInt32BE(4);
        data = data.subarray(HEADER_BYTES);
        continue;
      }
      const take = Math.min(this.frameRemaining, data.length);
      const payload = data.subarray(0, take);
      if (this.frameType === STDOUT) this.push(payload);
      else if (this.frameType === STDERR) this.onStderr(payload);
      this.frameRemaining -= take;
      data = data.subarray(take);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.pending.length > 0 || this.frameRemaining > 0) {
      done(new Error(`the Docker stream ended inside a frame (${this.frameRemaining} bytes missing)`));
    } else {
      done();
    }
  }
}

export { TextTail } from "../jobs/result-line";
