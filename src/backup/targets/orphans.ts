// Keys of multipart uploads pgfort could not abort (S3 was down when the backup failed). The next
// backup run or prune aborts them, so a crash of the S3 server leaves no upload behind for good.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

const JournalSchema = z.object({ keys: z.array(z.string()) });

export class OrphanJournal {
  constructor(private readonly file: string) {}

  async keys(): Promise<string[]> {
    try {
      return JournalSchema.parse(JSON.parse(await readFile(this.file, "utf8"))).keys;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  }

  async add(key: string): Promise<void> {
    const keys = new Set(await this.keys());
    keys.add(key);
    await this.save([...keys]);
  }

  async remove(key: string): Promise<void> {
    await this.save((await this.keys()).filter((candidate) => candidate !== key));
  }

  private async save(keys: string[]): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.tmp`;
    await writeFile(temporary, `${JSON.stringify({ keys }, null, 2)}\n`);
    await rename(temporary, this.file);
  }
}
