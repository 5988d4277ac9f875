/**
 * Regenerates `kernels.ts`, the `.cu` sources embedded as strings (so the CUDA device works when
 * the library is imported from a URL, where files next to the module cannot be read).
 *
 * Run after editing a kernel: `deno run --allow-read --allow-write nn/cuda/embed.ts`
 * (tests/cuda/kernel_sources_test.ts fails while kernels.ts and the `.cu` files differ).
 *
 * @example
 * ```ts
 * import { embeddedKernelsModule } from "./embed.ts";
 * const text = embeddedKernelsModule({ "reduce": "// source" });
 * ```
 *
 * @module
 */

import type { KernelModuleName } from "./signatures.ts";

/** The `.cu` files, in the order kernels.ts lists them. */
export const KERNEL_MODULES: readonly KernelModuleName[] = [
  "elementwise",
  "reduce",
  "layout",
  "pool",
  "loss",
  "optim",
];

/**
 * The text of kernels.ts for the given sources.
 *
 * @param sources Source text of each `.cu` file, by module name.
 * @returns A formatted TypeScript module.
 */
export function embeddedKernelsModule(sources: Readonly<Record<string, string>>): string {
  const entries = Object.entries(sources)
    .map(([name, text]) => `  ${name}: ${JSON.stringify(text)},`)
    .join("\n");
  return `// deno-fmt-ignore-file
/**
 * The CUDA kernel sources, embedded. GENERATED from nn/cuda/kernels/*.cu by nn/cuda/embed.ts:
 * edit the .cu files, then run \`deno run --allow-read --allow-write nn/cuda/embed.ts\`.
 *
 * @module
 */

import type { KernelModuleName } from "./signatures.ts";

/**
 * Source text of each kernel module.
 *
 * @example
 * \`\`\`ts
 * import { KERNEL_SOURCES } from "./kernels.ts";
 * console.log(KERNEL_SOURCES.reduce.includes("sum_to")); // true
 * \`\`\`
 */
export const KERNEL_SOURCES: Readonly<Record<KernelModuleName, string>> = {
${entries}
};
`;
}

if (import.meta.main) {
  const sources: Record<string, string> = {};
  for (const name of KERNEL_MODULES) {
    sources[name] = Deno.readTextFileSync(new URL(`./kernels/${name}.cu`, import.meta.url));
  }
  Deno.writeTextFileSync(new URL("./kernels.ts", import.meta.url), embeddedKernelsModule(sources));
}
