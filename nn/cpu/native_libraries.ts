/**
 * Opens the CPU device's native libraries, OpenBLAS (or another CBLAS) and oneDNN 2.x, together
 * and once, so that a machine without them gets ONE line on stderr naming what is missing, what
 * runs instead and the command that installs it (ffi/native_notice.ts), however many kernels ask.
 *
 * @module
 */

import { OPENBLAS } from "../../ffi/cblas.ts";
import { ONEDNN } from "../../ffi/dnnl.ts";
import { type FallBack, hasPermission, type OpenedLibrary, openOrFallBack, readEnv } from "../../ffi/load.ts";
import { nativeNotice, type NativeState } from "../../ffi/native_notice.ts";
import { noticeOnce } from "../../ffi/notice.ts";
import { currentPlatform } from "../../ffi/places.ts";

type Opened<S extends Deno.ForeignLibraryInterface> = OpenedLibrary<S> | FallBack;

/**
 * OpenBLAS, opened once; the first call also looks for oneDNN and prints the one notice.
 *
 * @returns The library, or why the TypeScript GEMM runs.
 * @throws {LibraryNotFoundError} when `EPSANET_BLAS` names a library that cannot be used.
 * @example
 * ```ts
 * import { openBlas } from "./native_libraries.ts";
 * const blas = openBlas();
 * console.log(blas.library ? blas.path : blas.reason);
 * ```
 */
export function openBlas(): Opened<typeof OPENBLAS.symbols> {
  const blas = openOrFallBack(OPENBLAS, "", false);
  announce(blas, sibling(() => openOrFallBack(ONEDNN, "", false)));
  return blas;
}

/**
 * oneDNN, opened once; the first call also looks for OpenBLAS and prints the one notice.
 *
 * @returns The library, or why im2col + GEMM runs for convolutions.
 * @throws {LibraryNotFoundError} when `EPSANET_ONEDNN` names a library that cannot be used.
 * @example
 * ```ts
 * import { openOneDnn } from "./native_libraries.ts";
 * console.log(openOneDnn().library !== null);
 * ```
 */
export function openOneDnn(): Opened<typeof ONEDNN.symbols> {
  const dnn = openOrFallBack(ONEDNN, "", false);
  announce(sibling(() => openOrFallBack(OPENBLAS, "", false)), dnn);
  return dnn;
}

/** The other library's result; its explicit-path error is its own caller's to throw, not ours. */
function sibling<S extends Deno.ForeignLibraryInterface>(open: () => Opened<S>): Opened<S> | undefined {
  try {
    return open();
  } catch {
    return undefined;
  }
}

/** Prints the one notice for both libraries (nothing without --allow-ffi: load.ts says that). */
function announce(
  blas: Opened<Deno.ForeignLibraryInterface> | undefined,
  dnn: Opened<Deno.ForeignLibraryInterface> | undefined,
): void {
  if (!hasPermission("ffi")) return;
  const states = [state("OpenBLAS", OPENBLAS.envVar, blas), state("oneDNN", ONEDNN.envVar, dnn)];
  const tried = [blas, dnn].flatMap((r) => (r && !r.library && r.error ? r.error.tried : []));
  noticeOnce("CPU libraries", nativeNotice(states, currentPlatform()), tried);
}

function state(
  name: NativeState["name"],
  envVar: string,
  opened: Opened<Deno.ForeignLibraryInterface> | undefined,
): NativeState {
  // An explicit path that failed is reported by its own error; it is not "missing".
  if (opened === undefined || opened.library) return { name, state: "loaded" };
  if (readEnv(envVar) === "none") return { name, state: "off", detail: `${envVar}=none` };
  const rejected = opened.error?.rejected;
  return rejected ? { name, state: "rejected", detail: rejected } : { name, state: "missing" };
}
