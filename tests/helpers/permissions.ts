/**
 * Permission-aware tests: a test that lacks a permission is ignored, and its name says which.
 *
 * @module
 */

/** A permission a test may need. */
export type Permission = "ffi" | "env" | "read" | "write" | "run" | "net";

/**
 * Whether every permission is granted.
 *
 * @param names Permissions.
 */
export function granted(...names: Permission[]): boolean {
  // Tests only need the loopback host; `deno task test` grants just that.
  return names.every((name) =>
    Deno.permissions.querySync(name === "net" ? { name, host: "127.0.0.1" } : { name }).state === "granted"
  );
}

/**
 * Registers a test that needs permissions; without them it is ignored and its name says why.
 *
 * @param name Test name.
 * @param permissions Needed permissions.
 * @param fn The test.
 */
export function testWith(
  name: string,
  permissions: Permission[],
  fn: (t: Deno.TestContext) => void | Promise<void>,
): void {
  const ok = granted(...permissions);
  Deno.test({
    name: ok ? name : `${name} (skipped: needs --allow-${permissions.join(" --allow-")})`,
    ignore: !ok,
    fn,
  });
}
