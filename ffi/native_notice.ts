/**
 * The one line printed when the CPU's native libraries (OpenBLAS or another CBLAS, and oneDNN) are
 * not all in use: what is missing, what runs instead and the one command that gets the fast path
 * on this operating system. Kept apart so that the wording (and the speed-up quoted, from
 * PERFORMANCE.md) is easy to change when the fallback kernels change.
 *
 * @module
 */

import type { Platform } from "./places.ts";
import { VERBOSE_ENV } from "./notice.ts";

/** What runs when a native library is missing (the fallback may change; the wording stays generic). */
export const FALLBACK_KERNELS = "the built-in kernels";

/**
 * Training speed of OpenBLAS + oneDNN over the TypeScript kernels: EPSANet-50, 32x32, batch 32 on
 * 2 cores, 55.7 img/s (PERFORMANCE.md) against ~4 img/s (0.07x, issue 11's measurement).
 */
export const NATIVE_SPEEDUP = "~14x";

/** One CPU library's state, as the notice sees it. */
export interface NativeState {
  /** `"OpenBLAS"` or `"oneDNN"`. */
  readonly name: "OpenBLAS" | "oneDNN";
  /** In use; not found; found but turned down (`detail` says why); switched off by `VAR=none`. */
  readonly state: "loaded" | "missing" | "rejected" | "off";
  /** For `"rejected"`: the path and reason; for `"off"`: the variable, e.g. `"EPSANET_BLAS=none"`. */
  readonly detail?: string;
}

/**
 * The command (or step) that installs the given libraries on an operating system.
 *
 * @param names The libraries to install.
 * @param platform The operating system.
 * @returns E.g. `"sudo apt-get install libopenblas0-pthread libdnnl2"` on Linux.
 * @example
 * ```ts
 * import { installHint } from "./native_notice.ts";
 * console.log(installHint(["OpenBLAS"], "darwin")); // "brew install openblas"
 * ```
 */
export function installHint(names: readonly NativeState["name"][], platform: Platform): string {
  const has = (name: NativeState["name"]) => names.includes(name);
  if (platform === "darwin") {
    // Homebrew's onednn is 3.x, which our 2.x bindings turn down; conda-forge still has 2.x.
    return [has("OpenBLAS") && "brew install openblas", has("oneDNN") && `conda install -c conda-forge "onednn<3"`]
      .filter(Boolean).join(" and ");
  }
  if (platform === "windows") {
    const files = [has("OpenBLAS") && "openblas.dll", has("oneDNN") && "dnnl.dll (oneDNN 2.x)"].filter(Boolean);
    return `put ${files.join(" and ")} from the projects' GitHub releases on PATH or beside deno.exe`;
  }
  const packages = [has("OpenBLAS") && "libopenblas0-pthread", has("oneDNN") && "libdnnl2"].filter(Boolean);
  return `sudo apt-get install ${packages.join(" ")}`;
}

/**
 * The notice line (without the `epsanet: ` prefix) for the CPU libraries' states.
 *
 * @param states OpenBLAS's and oneDNN's states.
 * @param platform The operating system whose install command to give.
 * @returns The line, or `""` when every library is loaded.
 * @example
 * ```ts
 * import { nativeNotice } from "./native_notice.ts";
 * console.log(nativeNotice([{ name: "OpenBLAS", state: "missing" }, { name: "oneDNN", state: "missing" }], "linux"));
 * // no OpenBLAS/oneDNN found; using the built-in kernels (sudo apt-get install libopenblas0-pthread libdnnl2 for ~14x; ...)
 * ```
 */
export function nativeNotice(states: readonly NativeState[], platform: Platform): string {
  const missing = states.filter((s) => s.state === "missing").map((s) => s.name);
  const rejected = states.filter((s) => s.state === "rejected");
  const off = states.filter((s) => s.state === "off");
  const parts: string[] = [];
  if (missing.length) parts.push(`no ${missing.join("/")} found`);
  for (const s of rejected) parts.push(`${s.name} turned down (${s.detail})`);
  if (off.length) {
    parts.push(`${off.map((s) => s.name).join("/")} switched off (${off.map((s) => s.detail).join(" ")})`);
  }
  if (parts.length === 0) return "";
  const toInstall = [...missing, ...rejected.map((s) => s.name)];
  const speed = toInstall.length === states.length ? NATIVE_SPEEDUP : "full speed";
  const hint = toInstall.length
    ? ` (${installHint(toInstall, platform)} for ${speed}; ${VERBOSE_ENV}=1 lists the places tried)`
    : "";
  return `${parts.join("; ")}; using ${FALLBACK_KERNELS}${hint}`;
}
