/**
 * Fuzzes the checkpoint readers (safetensors, and PyTorch's zip and legacy formats) with mutated
 * files from a seeded generator: bit flips, interesting bytes, truncations, inserted and deleted
 * ranges, and corrupted length fields. Every input must load or fail with a clear Error (a plain
 * Error of one line starting with a capital letter, not a TypeError or RangeError), and quickly.
 *
 * ```sh
 * deno task fuzz --cases 20000 --seed 7
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseCheckpoint } from "../../nn/io/weights.ts";
import { serializeSafetensors } from "../../nn/safetensors.ts";
import { tensor } from "../../mod.ts";
import { legacyCheckpoint, SMALL_STATE, statePickle, zipCheckpoint, zipWithPickle } from "../pth/fixtures.ts";

/** Counts of one fuzz run. */
export interface FuzzReport {
  cases: number;
  loaded: number;
  refused: number;
  /** Inputs that crashed: a non-Error, a TypeError/RangeError, or a message of several lines. */
  crashes: { index: number; seed: string; problem: string }[];
  /** The slowest case, in milliseconds. */
  slowestMs: number;
}

/** mulberry32: small, fast, and the same sequence for a seed on every machine. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A seed file; `wrap` turns the mutated bytes into the input (a pickle into a zip with a valid CRC). */
interface Seed {
  name: string;
  bytes: Uint8Array;
  wrap?: (mutated: Uint8Array) => Uint8Array;
}

function seeds(): Seed[] {
  const tensors = { "fc.weight": tensor([1, -2, 3.5, 4], [2, 2]), "fc.bias": tensor([0.5, -0.5]), steps: tensor(7) };
  const safetensors = serializeSafetensors(tensors, { metadata: { epoch: "3" }, integerKeys: new Set(["steps"]) });
  for (const t of Object.values(tensors)) t.dispose();
  return [
    { name: "safetensors", bytes: safetensors },
    { name: "pth-zip", bytes: zipCheckpoint(SMALL_STATE) },
    { name: "pth-zip-folder", bytes: zipCheckpoint(SMALL_STATE, "epsanet50") },
    { name: "pth-zip-deflated", bytes: zipCheckpoint(SMALL_STATE, "archive", true) },
    {
      name: "pth-zip-pickle",
      bytes: statePickle(SMALL_STATE, false),
      wrap: (pickle) => zipWithPickle(SMALL_STATE, pickle),
    },
    { name: "pth-legacy", bytes: legacyCheckpoint(SMALL_STATE) },
  ];
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x2e, 0x28, 0x8a, 0x50];
const INTERESTING_LENGTHS = [0, 1, 0x7fffffff, 0xffffffff, 0xffff, 2 ** 53 - 1];

type Mutation = (bytes: Uint8Array, random: () => number) => Uint8Array;

const pick = (random: () => number, n: number): number => Math.floor(random() * n);

const MUTATIONS: Mutation[] = [
  (b, r) => { // flip one bit
    const out = b.slice();
    if (out.length) out[pick(r, out.length)] ^= 1 << pick(r, 8);
    return out;
  },
  (b, r) => { // set an interesting byte
    const out = b.slice();
    if (out.length) out[pick(r, out.length)] = INTERESTING_BYTES[pick(r, INTERESTING_BYTES.length)];
    return out;
  },
  (b, r) => b.slice(0, pick(r, b.length + 1)), // truncate
  (b, r) => { // insert random bytes
    const at = pick(r, b.length + 1);
    const extra = Uint8Array.from({ length: 1 + pick(r, 16) }, () => pick(r, 256));
    return new Uint8Array([...b.subarray(0, at), ...extra, ...b.subarray(at)]);
  },
  (b, r) => { // delete a range
    const at = pick(r, b.length + 1);
    return new Uint8Array([...b.subarray(0, at), ...b.subarray(at + 1 + pick(r, 32))]);
  },
  (b, r) => { // corrupt a length field: 4 or 8 little-endian bytes, near the start, the end, or anywhere
    const out = b.slice();
    const width = r() < 0.5 ? 4 : 8;
    if (out.length < width) return out;
    const region = pick(r, 3);
    const at = region === 0
      ? pick(r, Math.min(16, out.length - width + 1))
      : region === 1
      ? out.length - width - pick(r, Math.min(64, out.length - width + 1))
      : pick(r, out.length - width + 1);
    const value = r() < 0.5 ? INTERESTING_LENGTHS[pick(r, INTERESTING_LENGTHS.length)] : out.length + pick(r, 64) - 32;
    const view = new DataView(out.buffer);
    if (width === 4) view.setUint32(Math.max(0, at), value >>> 0, true);
    else view.setBigUint64(Math.max(0, at), BigInt(Math.max(0, value)), true);
    return out;
  },
];

function classify(error: unknown): string | null {
  if (!(error instanceof Error)) return `threw a non-Error: ${String(error)}`;
  if (error.constructor !== Error) return `${error.name}: ${error.message}`;
  if (error.message.includes("\n")) return `message of several lines: ${error.message}`;
  if (!/^[A-Z]/.test(error.message)) return `message not starting with a capital letter: ${error.message}`;
  return null;
}

/**
 * Runs `cases` mutated inputs through the checkpoint readers.
 *
 * @param cases How many inputs.
 * @param seed The generator's seed.
 * @returns The counts.
 */
export function fuzzCheckpoints(cases: number, seed: number): FuzzReport {
  const random = generator(seed);
  const corpus = seeds();
  const report: FuzzReport = { cases, loaded: 0, refused: 0, crashes: [], slowestMs: 0 };
  for (let index = 0; index < cases; index++) {
    const { name, bytes: original, wrap } = corpus[index % corpus.length];
    let bytes = original;
    for (let n = 1 + pick(random, 4); n > 0; n--) bytes = MUTATIONS[pick(random, MUTATIONS.length)](bytes, random);
    if (wrap) bytes = wrap(bytes);
    const start = performance.now();
    try {
      const { tensors } = parseCheckpoint(bytes, "fuzz-input");
      for (const t of Object.values(tensors)) t.dispose();
      report.loaded++;
    } catch (error) {
      const problem = classify(error);
      if (problem) report.crashes.push({ index, seed: name, problem });
      else report.refused++;
    }
    report.slowestMs = Math.max(report.slowestMs, performance.now() - start);
  }
  return report;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { cases: { type: "string", default: "10000" }, seed: { type: "string", default: "1" } },
  });
  const cases = Number(values.cases);
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed)) {
    console.error("error: --cases must be a positive integer and --seed an integer");
    Deno.exit(2);
  }
  const started = performance.now();
  const report = fuzzCheckpoints(cases, seed);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${report.cases} cases in ${
      seconds.toFixed(1)
    } s: ${report.loaded} loaded, ${report.refused} refused with a clear ` +
      `error, ${report.crashes.length} crashes; slowest case ${report.slowestMs.toFixed(1)} ms`,
  );
  for (const crash of report.crashes.slice(0, 20)) {
    console.log(`crash #${crash.index} (${crash.seed}): ${crash.problem}`);
  }
  Deno.exit(report.crashes.length ? 1 : 0);
}
