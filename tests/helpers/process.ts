/**
 * Child processes for tests that run a script as a user would.
 *
 * @module
 */

import { FALLBACK_KERNELS } from "../../ffi/native_notice.ts";

/** What a finished child process printed, and its exit code. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno ARGS` (the Deno running the tests) and collects its output.
 *
 * @param args Arguments after `deno`, e.g. ["run", "-A", script, "--help"].
 * @param options `cwd` of the child.
 * @returns Exit code, stdout and stderr.
 */
export async function runDeno(args: string[], options: { cwd?: string } = {}): Promise<CommandOutput> {
  const output = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped", cwd: options.cwd })
    .output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/**
 * stderr lines, without the library's one-line notices that CUDA is unavailable or that the CPU's
 * native libraries are missing or switched off (so that the same tests pass with `EPSANET_BLAS=none`).
 *
 * @param stderr A child's stderr.
 * @returns Its non-empty lines.
 */
export function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) =>
    line && !line.startsWith("epsanet: CUDA unavailable") &&
    !(line.startsWith("epsanet: ") && line.includes(`; using ${FALLBACK_KERNELS}`))
  );
}
