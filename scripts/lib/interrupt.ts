/**
 * Cooperative interruption: Ctrl-C (SIGINT) aborts a signal that long loops check between steps
 * (the library's loops yield to the event loop so that the listener gets to run).
 *
 * @module
 */

/**
 * Turns the first Ctrl-C into `controller.abort()` (the loop then saves and stops); a second
 * Ctrl-C exits at once with status 130.
 *
 * @param controller The controller whose signal the loop checks.
 * @param notice Called once on the first Ctrl-C, to tell the user what happens next.
 * @returns A function that removes the listener.
 * @example
 * ```ts
 * import { abortOnSigint } from "./interrupt.ts";
 * const controller = new AbortController();
 * const release = abortOnSigint(controller, () => console.error("stopping after this step"));
 * release();
 * ```
 */
export function abortOnSigint(controller: AbortController, notice: () => void): () => void {
  const listener = (): void => {
    if (controller.signal.aborted) Deno.exit(130);
    notice();
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", listener);
  return () => Deno.removeSignalListener("SIGINT", listener);
}
