/**
 * The Python that tests compare us with: Debian's /usr/bin/python3 with python3-torch (and
 * python3-torchvision for ResNet-50), and why a test that needs it cannot run.
 *
 * @module
 */

import { granted } from "./permissions.ts";

/** The interpreter the PyTorch tests run. */
export const PYTHON = "/usr/bin/python3";

/**
 * Why `PYTHON` cannot run a test that imports `modules`, or null when it can.
 *
 * @param modules Python modules the test imports, e.g. ["torch", "torchvision"].
 * @returns A reason for the skipped test's name, or null.
 */
export function pythonLacks(modules: string[]): string | null {
  if (!granted("run")) return "needs --allow-run";
  const probe = new Deno.Command(PYTHON, {
    args: ["-c", `import ${modules.join(", ")}`],
    stdout: "null",
    stderr: "null",
  });
  try {
    return probe.outputSync().success ? null : `${PYTHON} cannot import ${modules.join(" and ")}`;
  } catch {
    return `no ${PYTHON}`;
  }
}
