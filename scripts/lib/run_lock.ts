/**
 * A run folder defends itself: one training at a time holds its lock (`train.lock`, holding the
 * process id, created exclusively), and the holder clears the temporary files that crashed writes
 * left behind (only names of the project's own pattern `.NAME.tmp-XXXXXXXX`).
 *
 * @module
 */

import { join } from "node:path";
import { UsageError } from "./args.ts";

/**
 * The names of the temporary files of atomic writes (`.last.safetensors.tmp-1a2b3c4d`).
 *
 * @example
 * ```ts
 * import { TEMP_NAME } from "./run_lock.ts";
 * console.log(TEMP_NAME.test(".metrics.jsonl.tmp-0123abcd")); // true
 * ```
 */
export const TEMP_NAME: RegExp = /^\..+\.tmp-[0-9a-f]{8}$/;

/**
 * Whether process `pid` is alive (Linux and other systems with /proc; elsewhere: assumed alive).
 * `/proc/N` also exists when N is a thread of another process, and a zombie keeps its entry, so
 * both are told apart: a busy machine reuses ids fast, and a lock must not outlive its holder.
 */
function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return true; // no /proc: cannot tell, so never take a lock over
  }
  let status: string;
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return false;
  }
  const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(\\S+)`, "m"))?.[1];
  return field("Tgid") === String(pid) && field("State") !== "Z";
}

/**
 * Takes the lock of a run folder, or says who holds it. A lock whose process is gone (a crash or
 * `kill -9`) is taken over with a one-line note.
 *
 * @param path The lock file (`train.lock` in the run folder, which must exist).
 * @param note Where the takeover note goes.
 * @returns A function that releases the lock.
 * @throws A {@linkcode UsageError} when a live process holds it.
 * @example
 * ```ts
 * import { lockRun } from "./run_lock.ts";
 * const dir = await Deno.makeTempDir();
 * const release = await lockRun(`${dir}/train.lock`, console.log);
 * await release();
 * ```
 */
export async function lockRun(path: string, note: (line: string) => void): Promise<() => Promise<void>> {
  for (let attempt = 0;; attempt++) {
    try {
      const file = await Deno.open(path, { write: true, createNew: true });
      try {
        await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
      } finally {
        file.close();
      }
      return () => Deno.remove(path).catch(() => {});
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists) || attempt > 0) throw error;
    }
    const text = await Deno.readTextFile(path).catch(() => "");
    const pid = Number.parseInt(text, 10);
    if (Number.isInteger(pid) && processAlive(pid)) {
      throw new UsageError(
        `${path} shows that process ${pid} is training in this folder; wait for it to finish, ` +
          `or choose another --out`,
      );
    }
    note(`note: taking over ${path} from process ${Number.isInteger(pid) ? pid : "(unknown)"}, which is gone`);
    await Deno.remove(path).catch(() => {});
  }
}

/**
 * Removes the temporary files that interrupted atomic writes left in a folder (not recursively).
 * Call it only while holding the folder's lock: a live training's temporaries look the same.
 *
 * @param dir The folder.
 * @returns How many files were removed.
 * @example
 * ```ts
 * import { removeStaleTemps } from "./run_lock.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/.last.safetensors.tmp-0123abcd`, "half");
 * console.log(await removeStaleTemps(dir)); // 1
 * ```
 */
export async function removeStaleTemps(dir: string): Promise<number> {
  let removed = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && TEMP_NAME.test(entry.name)) {
        await Deno.remove(join(dir, entry.name));
        removed++;
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return removed;
}
