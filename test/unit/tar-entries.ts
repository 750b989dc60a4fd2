// Reads a tar archive held in memory (what pgfort copies into a volume): every entry with its header and content.
import { extract } from "tar-stream";

export interface TarEntry {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  content: string;
}

export async function tarEntries(archive: Buffer): Promise<TarEntry[]> {
  const found: TarEntry[] = [];
  const reader = extract();
  reader.on("entry", (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: unknown) => {
      if (Buffer.isBuffer(chunk)) chunks.push(chunk);
    });
    stream.on("end", () => {
      found.push({ name: header.name, mode: header.mode ?? 0, uid: header.uid ?? -1, gid: header.gid ?? -1, content: Buffer.concat(chunks).toString() });
      next();
    });
  });
  const done = new Promise<void>((resolve) => reader.on("finish", () => resolve()));
  reader.end(archive);
  await done;
  return found;
}
