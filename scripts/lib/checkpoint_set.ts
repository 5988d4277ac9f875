/**
 * Checkpoints that commit atomically. Each checkpoint is a generation: its weights and its
 * training state, written completely (and synced) under `generations/` with the checkpoint id in
 * their names. One rename of the small pointer file `checkpoint.json` then switches the run to the
 * new generation; until that rename, the previous generation is untouched. So a crash (`kill -9`,
 * a second Ctrl-C, a full disk) at any instant leaves the run at one whole checkpoint or the next.
 *
 * After the switch, `last.safetensors`, `last.state.safetensors` and `best.safetensors` are
 * published as hard links to the generation files (copies where links are not possible), for
 * `eval.ts` and for users; resuming reads the generation the pointer names and republishes them,
 * so a crash between the switch and the publishing is repaired too.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { copyFileAtomic, writeFileAtomic } from "../../mod.ts";
import { CheckpointError } from "./checkpoint.ts";
import { pathExists } from "./files.ts";

/**
 * The `format` of `checkpoint.json`.
 *
 * @example
 * ```ts
 * import { POINTER_FORMAT } from "./checkpoint_set.ts";
 * console.log(POINTER_FORMAT); // "epsanet-deno/checkpoint-pointer-1"
 * ```
 */
export const POINTER_FORMAT = "epsanet-deno/checkpoint-pointer-1";

/**
 * What `checkpoint.json` holds: the committed generation and the one of the best weights.
 *
 * @example
 * ```ts
 * import type { CheckpointPointer } from "./checkpoint_set.ts";
 * const pointer: CheckpointPointer = { format: "epsanet-deno/checkpoint-pointer-1", last: "6-ab12cd34", best: "3-ef56ab78" };
 * ```
 */
export interface CheckpointPointer {
  /** Always {@linkcode POINTER_FORMAT}. */
  format: string;
  /** Checkpoint id of the committed generation. */
  last: string;
  /** Checkpoint id of the generation holding the best weights; null before the first evaluation. */
  best: string | null;
}

/**
 * The files of one generation.
 *
 * @param generations The `generations/` folder of the run.
 * @param id The checkpoint id.
 * @returns Paths of its weights and its training state.
 * @example
 * ```ts
 * import { generationPaths } from "./checkpoint_set.ts";
 * console.log(generationPaths("runs/a/generations", "6-ab12cd34").state); // "runs/a/generations/6-ab12cd34.state.safetensors"
 * ```
 */
export function generationPaths(generations: string, id: string): { weights: string; state: string } {
  return { weights: join(generations, `${id}.safetensors`), state: join(generations, `${id}.state.safetensors`) };
}

const ID_PATTERN = /^\d+-[0-9a-f]{8}$/;

/**
 * Reads `checkpoint.json`; null when the run has none (no checkpoint committed yet, or a run
 * written before generations existed).
 *
 * @param path The pointer file.
 * @returns The pointer, or null.
 * @throws A one-line {@linkcode CheckpointError} when it is damaged.
 * @example
 * ```ts
 * import { readPointer } from "./checkpoint_set.ts";
 * console.log(await readPointer("/nonexistent/checkpoint.json")); // null
 * ```
 */
export async function readPointer(path: string): Promise<CheckpointPointer | null> {
  let text;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  let pointer: Partial<CheckpointPointer> | null = null;
  try {
    pointer = JSON.parse(text);
  } catch { /* reported below */ }
  const valid = pointer?.format === POINTER_FORMAT && ID_PATTERN.test(String(pointer.last)) &&
    (pointer.best === null || ID_PATTERN.test(String(pointer.best)));
  if (!valid) {
    throw new CheckpointError(`${path} is damaged (it must name the committed checkpoint); the run cannot resume`);
  }
  return pointer as CheckpointPointer;
}

/** Points `target` at `source`: a hard link renamed into place (one rename), or an atomic copy. */
async function publish(source: string, target: string): Promise<void> {
  // The temporary name follows the project's pattern, so a crash leaves nothing that start-up keeps.
  const temp = join(dirname(target), `.${basename(target)}.tmp-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await Deno.link(source, temp);
    await Deno.rename(temp, target);
    // When target already is a link to source, rename does nothing and leaves temp: remove it.
    await Deno.remove(temp).catch(() => {});
  } catch {
    await Deno.remove(temp).catch(() => {});
    await copyFileAtomic(source, target);
  }
}

/**
 * Writes the user-facing `last.*` and `best.safetensors` from the generations the pointer names.
 *
 * @param pointer The committed pointer.
 * @param generations The `generations/` folder.
 * @param files Where `last`, `state` and `best` go.
 * @returns Once all are in place.
 * @example
 * ```ts
 * import { publishPointer } from "./checkpoint_set.ts";
 * // await publishPointer(pointer, "runs/a/generations", runPaths("runs/a"));
 * ```
 */
export async function publishPointer(
  pointer: CheckpointPointer,
  generations: string,
  files: { last: string; state: string; best: string },
): Promise<void> {
  const last = generationPaths(generations, pointer.last);
  await publish(last.weights, files.last);
  await publish(last.state, files.state);
  if (pointer.best) await publish(generationPaths(generations, pointer.best).weights, files.best);
}

/**
 * Commits a generation whose files are already written: renames the pointer into place, then
 * publishes the `last.*` / `best` files and removes generations the pointer no longer names.
 *
 * @param pointerPath `checkpoint.json`.
 * @param pointer The new pointer.
 * @param generations The `generations/` folder.
 * @param files Where `last`, `state` and `best` go.
 * @returns Once committed and published.
 * @example
 * ```ts
 * import { commitGeneration } from "./checkpoint_set.ts";
 * // await commitGeneration(paths.pointer, { format: POINTER_FORMAT, last: id, best: id }, paths.generations, paths);
 * ```
 */
export async function commitGeneration(
  pointerPath: string,
  pointer: CheckpointPointer,
  generations: string,
  files: { last: string; state: string; best: string },
): Promise<void> {
  await writeFileAtomic(pointerPath, JSON.stringify(pointer) + "\n"); // the commit: one rename
  await publishPointer(pointer, generations, files);
  const keep = new Set([pointer.last, pointer.best].filter((id) => id !== null));
  for await (const entry of Deno.readDir(generations)) {
    const id = entry.name.replace(/(\.state)?\.safetensors$/, "");
    if (entry.name.endsWith(".safetensors") && !keep.has(id)) {
      await Deno.remove(join(generations, entry.name)).catch(() => {});
    }
  }
}

/**
 * Checks that the generation a pointer names is complete, with a one-line error when not.
 *
 * @param pointerPath `checkpoint.json`, for the message.
 * @param pointer The pointer.
 * @param generations The `generations/` folder.
 * @returns The paths of its weights and state.
 * @throws A {@linkcode CheckpointError} naming the missing file.
 * @example
 * ```ts
 * import { committedGeneration } from "./checkpoint_set.ts";
 * // const { weights, state } = await committedGeneration(paths.pointer, pointer, paths.generations);
 * ```
 */
export async function committedGeneration(
  pointerPath: string,
  pointer: CheckpointPointer,
  generations: string,
): Promise<{ weights: string; state: string }> {
  const files = generationPaths(generations, pointer.last);
  for (const path of [files.weights, files.state]) {
    if (!await pathExists(path)) {
      throw new CheckpointError(
        `${path} is missing, though ${pointerPath} names its checkpoint; the run folder is damaged and cannot ` +
          `resume (restore the file, or start a new run with another --out)`,
      );
    }
  }
  return files;
}
