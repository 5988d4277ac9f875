/**
 * `Module`: the base of every layer and model. It owns named parameters, buffers and
 * sub-modules, so that names (`layer1.0.conv2.conv_4.weight`), state dicts, device moves, modes
 * and gradient resets work for any tree of modules, with PyTorch's semantics.
 *
 * @module
 */

import type { Device } from "./device.ts";
import { resolveDevice } from "./device_registry.ts";
import { keep } from "./scope.ts";
import type { Tensor } from "./tensor.ts";

/** What {@linkcode Module.loadStateDict} found. */
export interface LoadResult {
  /** Keys the module has but the dict lacks. */
  missingKeys: string[];
  /** Keys the dict has but the module lacks. */
  unexpectedKeys: string[];
}

/** Options of {@linkcode Module.loadStateDict}. */
export interface LoadOptions {
  /** Refuse missing or unexpected keys (default true). Shape mismatches are always refused. */
  strict?: boolean;
}

/** Options of a registered buffer. */
export interface BufferOptions {
  /** Holds whole numbers (saved as I64, like PyTorch's `num_batches_tracked`). */
  integer?: boolean;
}

/**
 * Base class of layers and models.
 *
 * Subclasses register their state in the constructor (`this.weight = this.registerParameter(...)`)
 * and implement `forward`.
 *
 * @example
 * ```ts
 * import { Module } from "./module.ts";
 * import { zeros } from "./creation.ts";
 * import type { Tensor } from "./tensor.ts";
 * class Scale extends Module {
 *   readonly factor: Tensor;
 *   constructor() {
 *     super();
 *     this.factor = this.registerParameter("factor", zeros([1]));
 *   }
 *   forward(x: Tensor): Tensor {
 *     return x.mul(this.factor);
 *   }
 * }
 * console.log([...new Scale().namedParameters()].map(([name]) => name)); // ["factor"]
 * ```
 */
export abstract class Module {
  /** Train mode (batch statistics, running-stat updates) or eval mode. */
  training = true;
  #parameters = new Map<string, Tensor>();
  #buffers = new Map<string, { tensor: Tensor; integer: boolean }>();
  #modules = new Map<string, Module>();

  /**
   * Runs the module.
   *
   * @param x Input.
   * @returns Output.
   */
  abstract forward(x: Tensor): Tensor;

  /**
   * Registers a trainable tensor under `name` (sets `requiresGrad`, exempts it from `tidy`).
   *
   * @param name Its name within this module.
   * @param t The tensor.
   * @returns `t`.
   */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.#checkName(name);
    t.requiresGrad = true;
    this.#parameters.set(name, keep(t));
    return t;
  }

  /**
   * Registers non-trainable state (running statistics) under `name`.
   *
   * @param name Its name within this module.
   * @param t The tensor.
   * @param options Whether it holds integers.
   * @returns `t`.
   */
  protected registerBuffer(name: string, t: Tensor, options: BufferOptions = {}): Tensor {
    this.#checkName(name);
    this.#buffers.set(name, { tensor: keep(t), integer: options.integer ?? false });
    return t;
  }

  /**
   * Registers a sub-module under `name`.
   *
   * @param name Its name within this module.
   * @param m The sub-module.
   * @returns `m`.
   */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#checkName(name);
    this.#modules.set(name, m);
    return m;
  }

  #checkName(name: string): void {
    if (!name || name.includes(".")) throw new Error(`Module: invalid name "${name}" (non-empty, no dots)`);
    if (this.#parameters.has(name) || this.#buffers.has(name) || this.#modules.has(name)) {
      throw new Error(`Module: "${name}" is already registered in ${this.constructor.name}`);
    }
  }

  /** Direct sub-modules with their names. */
  namedChildren(): [string, Module][] {
    return [...this.#modules];
  }

  /**
   * This module and every descendant, depth first, with dotted names ("" for this one).
   *
   * @param prefix Name of this module.
   */
  *namedModules(prefix = ""): IterableIterator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.#modules) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  /**
   * Every parameter with its dotted name, in registration order (PyTorch's order).
   *
   * @param prefix Name of this module.
   */
  *namedParameters(prefix = ""): IterableIterator<[string, Tensor]> {
    const dot = prefix ? `${prefix}.` : "";
    for (const [name, t] of this.#parameters) yield [dot + name, t];
    for (const [name, m] of this.#modules) yield* m.namedParameters(dot + name);
  }

  /**
   * Every buffer with its dotted name.
   *
   * @param prefix Name of this module.
   */
  *namedBuffers(prefix = ""): IterableIterator<[string, Tensor]> {
    const dot = prefix ? `${prefix}.` : "";
    for (const [name, b] of this.#buffers) yield [dot + name, b.tensor];
    for (const [name, m] of this.#modules) yield* m.namedBuffers(dot + name);
  }

  /** Every parameter, in order. */
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, t]) => t);
  }

  /** Number of trainable values. */
  numParameters(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  /**
   * Parameters and buffers by dotted name, in PyTorch's state_dict order (per module: its
   * parameters, its buffers, then its children). The tensors are the module's own, not copies.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [prefix, m] of this.namedModules()) {
      const dot = prefix ? `${prefix}.` : "";
      for (const [name, t] of m.#parameters) out[dot + name] = t;
      for (const [name, b] of m.#buffers) out[dot + name] = b.tensor;
    }
    return out;
  }

  /** State-dict keys of buffers that hold integers (saved as I64). */
  integerStateKeys(): Set<string> {
    const out = new Set<string>();
    for (const [prefix, m] of this.namedModules()) {
      const dot = prefix ? `${prefix}.` : "";
      for (const [name, b] of m.#buffers) if (b.integer) out.add(dot + name);
    }
    return out;
  }

  /**
   * Copies values from `dict` into this module's parameters and buffers. Everything is checked
   * before anything is written, so a failed load leaves the module unchanged.
   *
   * @param dict Name -> tensor (any device or dtype; values are converted).
   * @param options `strict` (default true) refuses missing or unexpected keys.
   * @returns The missing and unexpected keys (empty when strict).
   * @throws An Error naming every missing / unexpected key and every shape mismatch.
   */
  loadStateDict(dict: Readonly<Record<string, Tensor>>, options: LoadOptions = {}): LoadResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in dict));
    const unexpectedKeys = Object.keys(dict).filter((k) => !(k in own));
    const problems: string[] = [];
    for (const [key, target] of Object.entries(own)) {
      const source = dict[key];
      if (source && source.shape.join() !== target.shape.join()) {
        problems.push(`${key}: expected shape [${target.shape}], got [${source.shape}]`);
      }
    }
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(", ")}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(", ")}`);
    if (problems.length) {
      throw new Error(`loadStateDict(${this.constructor.name}): ${problems.join("; ")}`);
    }
    // Read every source before writing anything, so a bad source cannot leave a half-loaded model.
    const staged: [Tensor, Float32Array | Float64Array][] = [];
    for (const [key, target] of Object.entries(own)) {
      const source = dict[key];
      if (!source) continue;
      const values = source.device.read(source.buffer);
      staged.push([
        target,
        target.dtype === "float64" ? Float64Array.from(values) : Float32Array.from(values),
      ]);
    }
    for (const [target, values] of staged) target.device.write(target.buffer, values);
    this.afterLoad();
    return { missingKeys, unexpectedKeys };
  }

  /** Called after {@linkcode Module.loadStateDict} writes new values (for host-side mirrors). */
  protected afterLoad(): void {
    for (const m of this.#modules.values()) m.afterLoad();
  }

  /**
   * Moves every parameter and buffer to a device, or casts them to a dtype, in place (references
   * held by optimisers and users stay valid).
   *
   * @param target A device, a device spec (`"cpu"`, `"cuda"`) or a dtype (`"float64"`).
   * @returns this.
   */
  to(target: Device | string): this {
    const isDtype = target === "float32" || target === "float64";
    for (const t of Object.values(this.stateDict())) {
      if (isDtype) t.moveTo(t.device, target);
      else t.moveTo(resolveDevice(target));
    }
    return this;
  }

  /**
   * Sets train mode (or eval mode with `false`) here and below.
   *
   * @param mode Train (default) or not.
   * @returns this.
   */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Sets eval mode here and below. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Clears parameter gradients: disposes them (default, like PyTorch 2's `set_to_none`) or fills
   * them with zeros.
   *
   * @param setToNone Dispose instead of zeroing.
   */
  zeroGrad(setToNone = true): void {
    for (const p of this.parameters()) {
      if (!p.grad) continue;
      if (setToNone) {
        p.grad.dispose();
        p.grad = null;
      } else {
        p.device.fill(p.grad.buffer, 0);
      }
    }
  }

  /** Frees every parameter, buffer and gradient of this module tree. */
  dispose(): void {
    for (const t of Object.values(this.stateDict())) t.dispose();
  }
}
