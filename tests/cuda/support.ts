/**
 * What the CUDA tests share: environment probes made at registration time (so a skipped test says
 * why in its name), `gpuTest`, `testIf` and PATH lookups.
 *
 * @module
 */

import { openCudaLibraries } from "../../ffi/cuda_libraries.ts";
import { LibraryNotFoundError } from "../../ffi/load.ts";
import { cudaDevice } from "../../nn/cuda/device.ts";
import "../../nn/cuda/register.ts";
import type { Device } from "../../nn/device.ts";
import { cudaAvailable } from "../../nn/device_registry.ts";
import assert from "node:assert/strict";
import { KERNEL_SIGNATURES, type KernelArg } from "../../nn/cuda/signatures.ts";
import { Generator } from "../../nn/random.ts";
import { granted } from "../helpers.ts";

// ---------------------------------------------------------------------------------------------
// Environment probes (at registration time, so skipped tests can say why in their names)

export const GPU = cudaAvailable();
export const gpuSkipReason = GPU ? "" : `no usable GPU: ${cudaFailure()}`;
export const LIBRARIES_FOUND = granted("ffi", "env", "read") && librariesOpen();

function librariesOpen(): boolean {
  try {
    openCudaLibraries();
    return true;
  } catch {
    return false;
  }
}

export function cudaFailure(): string {
  try {
    cudaDevice();
    return "";
  } catch (error) {
    return error instanceof LibraryNotFoundError ? error.summary : (error as Error).message ?? String(error);
  }
}

/** A test that runs only with a working GPU. */
export function gpuTest(name: string, fn: (device: Device) => void): void {
  Deno.test({
    name: GPU ? name : `${name} (skipped: ${gpuSkipReason})`,
    ignore: !GPU,
    fn: () => fn(cudaDevice()),
  });
}

/** A test that needs an external thing; skipped with the reason when `reason` is non-empty. */
export function testIf(name: string, reason: string, fn: () => void | Promise<void>): void {
  Deno.test({ name: reason ? `${name} (skipped: ${reason})` : name, ignore: reason !== "", fn });
}

export const canLook = granted("read", "env");

export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function onPath(command: string): string | null {
  if (!canLook) return null;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && exists(`${dir}/${command}`)) return `${dir}/${command}`;
  }
  return null;
}

export const KERNELS_DIR = new URL("../../nn/cuda/kernels/", import.meta.url);

/** The `extern "C" __global__` kernels of a source and their parameter kinds. */
export function parseKernels(source: string): Map<string, KernelArg[]> {
  const kernels = new Map<string, KernelArg[]>();
  for (const match of source.matchAll(/extern "C" __global__ void (\w+)\(([^)]*)\)/g)) {
    const args = match[2].split(",").map((param): KernelArg => {
      const type = param.trim().replace(/\s*\w+$/, "").replace(/\bconst\b/g, "").replace(/\s+/g, "");
      if (type.endsWith("*")) return "ptr";
      if (type === "int") return "i32";
      if (type === "float") return "f32";
      if (type === "Dims") return "dims";
      throw new Error(`unknown kernel parameter type "${type}" in ${match[1]}`);
    });
    kernels.set(match[1], args);
  }
  return kernels;
}

/** The `.entry` kernels of PTX and their parameter kinds. */
export function parsePtxEntries(ptx: string): Map<string, KernelArg[]> {
  const entries = new Map<string, KernelArg[]>();
  for (const match of ptx.matchAll(/\.entry (\w+)\(([^)]*)\)/g)) {
    const args = match[2].split(",").map((param): KernelArg => {
      if (/\.param \.u64 /.test(param)) return "ptr";
      if (/\.param \.[us]32 /.test(param)) return "i32";
      if (/\.param \.f32 /.test(param)) return "f32";
      if (/\.param \.align 4 \.b8 \w+\[24\]/.test(param)) return "dims";
      throw new Error(`unknown PTX parameter "${param.trim()}" in ${match[1]}`);
    });
    entries.set(match[1], args);
  }
  return entries;
}

export function assertSignatures(found: ReadonlyMap<string, Map<string, KernelArg[]>>, origin: string): void {
  for (const [name, { module, args }] of Object.entries(KERNEL_SIGNATURES)) {
    assert.deepEqual(found.get(module)?.get(name), [...args], `${name} in ${module}.cu (${origin})`);
  }
  for (const [module, kernels] of found) {
    for (const name of kernels.keys()) {
      assert.ok(name in KERNEL_SIGNATURES, `${module}.cu defines ${name}, which signatures.ts lacks`);
    }
  }
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => (g.uniform() * 2 - 1) * scale);
}

export const size = (shape: readonly number[]): number => shape.reduce((x, y) => x * y, 1);
