// The tar framing the parallel engine's workers write (POSIX ustar, what `tar -x` reads): a
// 512-byte header per entry, the content padded to 512 bytes, two zero blocks at the end. Written
// here rather than through a streaming library because a worker writes synchronously, with one
// reused buffer, at the speed of the disk. Pure.

export const BLOCK = 512;

export interface TarHeader {
  /** Relative path, `/`-separated; a directory without its trailing slash. */
  name: string;
  type: "file" | "directory";
  size: number;
  mode: number;
  mtimeMs: number;
}

function octal(target: Buffer, offset: number, length: number, value: number): void {
  // length - 1 digits and a NUL, as GNU tar writes them.
  const digits = Math.floor(value).toString(8).padStart(length - 1, "0");
  if (digits.length > length - 1) throw new Error(`tar header: ${value} does not fit ${length - 1} octal digits`);
  target.write(`${digits}\0`, offset, length, "ascii");
}

/** ustar splits a long name at a `/` into prefix (155) and name (100). */
function splitName(name: string): { prefix: string; name: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: "", name };
  for (let at = name.indexOf("/"); at !== -1; at = name.indexOf("/", at + 1)) {
    const prefix = name.slice(0, at);
    const rest = name.slice(at + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100) return { prefix, name: rest };
  }
  throw new Error(`tar header: the path ${name} is too long for ustar`);
}

export function tarHeader(header: TarHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  const directory = header.type === "directory";
  const { prefix, name } = splitName(directory ? `${header.name}/` : header.name);
  block.write(name, 0, 100, "utf8");
  octal(block, 100, 8, header.mode & 0o7777);
  octal(block, 108, 8, 999);
  octal(block, 116, 8, 999);
  octal(block, 124, 12, directory ? 0 : header.size);
  octal(block, 136, 12, Math.floor(header.mtimeMs / 1000));
  block.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  block.write(directory ? "5" : "0", 156, 1, "ascii");
  block.write("ustar\u000000", 257, 8, "ascii");
  block.write("postgres", 265, 32, "ascii");
  block.write("postgres", 297, 32, "ascii");
  block.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return block;
}

/** Zero bytes after `size` bytes of content, to the next 512-byte boundary. */
export function paddingAfter(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The end of an archive: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
