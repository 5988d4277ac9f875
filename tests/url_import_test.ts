/**
 * mod.ts must load from an http(s) URL: relative imports and pinned npm: specifiers only. A local
 * file server serves this checkout; a fresh Deno process imports mod.ts from it, type-checks it
 * (remote modules included) and runs a forward pass.
 */
import assert from "node:assert/strict";
import { testWith } from "./helpers.ts";

const ROOT = new URL("../", import.meta.url);

testWith(
  "mod.ts imports over http from a local file server and runs",
  ["net", "read", "run", "write", "env"],
  async () => {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      const path = new URL(request.url).pathname;
      try {
        const body = await Deno.readFile(new URL(`.${path}`, ROOT));
        const type = path.endsWith(".ts") ? "application/typescript" : "application/octet-stream";
        return new Response(body, { headers: { "content-type": type } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    });
    const dir = await Deno.makeTempDir();
    try {
      const origin = `127.0.0.1:${server.addr.port}`;
      const script = `${dir}/main.ts`;
      await Deno.writeTextFile(
        script,
        `import { epsanet50, noGrad, randn, tidy } from "http://${origin}/mod.ts";
const net = epsanet50({ numClasses: 10, stem: "cifar" });
net.eval();
const shape = tidy(() => noGrad(() => net.forward(randn([1, 3, 32, 32]))).shape);
console.log(JSON.stringify({ shape, params: net.numParameters() }));
`,
      );
      const run = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--check=all",
          "--no-config",
          "--no-lock",
          `--allow-import=${origin}`,
          "--allow-env",
          "--allow-read",
          "--allow-ffi",
          script,
        ],
        env: { DENO_DIR: `${dir}/deno-dir`, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.ok(run.success, stderr);
      const out = JSON.parse(new TextDecoder().decode(run.stdout).trim().split("\n").at(-1)!);
      assert.deepEqual(out.shape, [1, 10]);
      // 22,561,715 with the 1000-class head and 7x7 stem; 10 classes and the 3x3 stem here.
      assert.equal(out.params, 22_561_715 - (2048 * 1000 + 1000) + (2048 * 10 + 10) - (64 * 3 * 49 - 64 * 3 * 9));
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
