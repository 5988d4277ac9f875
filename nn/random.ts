/**
 * A small, seedable random number generator (xoshiro128**) used for initialisation, data
 * shuffling and augmentation. Its state can be saved and restored, so a resumed run draws the same
 * numbers as an uninterrupted one.
 *
 * @module
 */

/**
 * A seedable generator of uniform and normal numbers.
 *
 * @example
 * ```ts
 * import { Generator } from "./random.ts";
 * const g = new Generator(42);
 * const u = g.uniform(); // in [0, 1)
 * const z = g.normal(); // standard normal
 * ```
 */
export class Generator {
  #s = new Uint32Array(4);
  #spareNormal: number | null = null;

  /**
   * Starts a stream from `seed`.
   *
   * @param seed Any integer; equal seeds give equal streams.
   */
  constructor(seed = 0) {
    this.seed(seed);
  }

  /**
   * Restarts the stream from `seed`.
   *
   * @param seed Any integer.
   */
  seed(seed: number): void {
    // splitmix32 spreads the seed over the 128-bit state (never all zero).
    let z = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      this.#s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
    this.#spareNormal = null;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform number in [0, 1) with 53 random bits. */
  uniform(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** A standard normal number (Box-Muller, pairs cached). */
  normal(): number {
    if (this.#spareNormal !== null) {
      const spare = this.#spareNormal;
      this.#spareNormal = null;
      return spare;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /**
   * A uniform integer in [0, n).
   *
   * @param n Exclusive upper bound (at most 2^32).
   */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** The generator's state, to restore later with {@linkcode Generator.setState}. */
  getState(): number[] {
    const spare = this.#spareNormal;
    return [...this.#s, spare === null ? NaN : spare];
  }

  /**
   * Restores a state from {@linkcode Generator.getState}.
   *
   * @param state Five numbers.
   */
  setState(state: readonly number[]): void {
    if (state.length !== 5) throw new Error(`Generator.setState: expected 5 numbers, got ${state.length}`);
    for (let i = 0; i < 4; i++) this.#s[i] = state[i] >>> 0;
    this.#spareNormal = Number.isNaN(state[4]) ? null : state[4];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * The generator that creation functions and initialisers use when none is passed.
 *
 * @example
 * ```ts
 * import { defaultGenerator } from "./random.ts";
 * defaultGenerator.seed(0);
 * ```
 */
export const defaultGenerator: Generator = new Generator(0);

/**
 * Seeds the default generator, like `torch.manual_seed`.
 *
 * @param seed Any integer.
 * @example
 * ```ts
 * import { manualSeed } from "./random.ts";
 * manualSeed(42);
 * ```
 */
export function manualSeed(seed: number): void {
  defaultGenerator.seed(seed);
}
