// Keys of multipart uploads pgfort could not abort (S3 was down when the backup failed). The next
// backup run or prune aborts them, so a crash of the S3 server leaves no upload behind for good.
import { rename } from "node:fs/promises";
import { z } from "zod";
import { readJsonFile, writeJsonFileAtomic } from "../../state/json-file";

const JournalSchema = z.object({ keys: z.array(z.string()) });

export class OrphanJournal {
  constructor(
    private readonly file: string,
    private readonly onWarning: (message: string) => void = (message) => process.emitWarning(message, { code: "PGFORT_STATE_FILE" }),
  ) {}

  /**
   * A corrupt journal is set aside and a new one started: it only lists uploads to abort, and
   * prune aborts every stale upload anyway, so losing it costs at most a day of storage.
   */
  async keys(): Promise<string[]> {
    const read = await readJsonFile(this.file, JournalSchema);
    if (read.ok) return read.value.keys;
    if (read.problem === "absent") return [];
    const aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[-:.]/g, "")}`;
    await rename(this.file, aside);
    this.onWarning(`${read.reason}; moved it to ${aside} and started a new one (pgfort backup prune aborts stale uploads anyway)`);
    return [];
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
    await writeJsonFileAtomic(this.file, { keys });
  }
}
