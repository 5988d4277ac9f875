/**
 * The restricted unpickler on its own: Python's own pickles of protocols 2 to 5 decode to the
 * expected values; refused globals, calls of non-callables, truncations and unsupported opcodes
 * give one-line errors.
 */
import assert from "node:assert/strict";
import { PyCallable, unpickle, unpickleAt } from "../nn/io/pickle.ts";
import { granted } from "./helpers.ts";

const PYTHON = "/usr/bin/python3";

function pythonMissing(): string | null {
  if (!granted("run")) return "needs --allow-run";
  try {
    return new Deno.Command(PYTHON, { args: ["-c", "import pickle"] }).outputSync().success ? null : `${PYTHON} fails`;
  } catch {
    return `no ${PYTHON}`;
  }
}

const skip = pythonMissing();

const refuse = (module: string, name: string): never => {
  throw new Error(`Refused ${module}.${name}`);
};

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

const SAMPLE = `{"ints": [0, 1, -1, 255, 65535, 2**31 - 1, -2**31, 2**40, -2**70, 2**53 + 1],
  "floats": [1.5, -0.0, float("inf")], "flags": [True, False, None], "text": ["", "ü€"], "raw": b"xy",
  "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)], "nested": {3: "three", "s": {1, 2}}, "frozen": frozenset([5]),
  "long": "x" * 300}`;

/** Protocol 2 has no bytes opcode: Python writes bytes as `_codecs.encode(text, "latin1")`. */
const latin1 = (module: string, name: string): unknown =>
  module === "_codecs" && name === "encode"
    ? new PyCallable("_codecs.encode", ([text]) => bytesOf(text as string))
    : refuse(module, name);

Deno.test({
  name: `unpickle() decodes Python's pickles of protocols 2 to 5 exactly${skip ? ` (skipped: ${skip})` : ""}`,
  ignore: skip !== null,
  fn: async () => {
    for (const protocol of [2, 3, 4, 5]) {
      const script = `import pickle, sys; shared = [7]; v = ${SAMPLE}; v["shared"] = (shared, shared); ` +
        // Protocols 2 and 3 have no set opcodes: they call builtins.set, which a state dict never needs.
        `${protocol < 4 ? 'del v["frozen"]; del v["nested"]["s"]; ' : ""}` +
        `sys.stdout.buffer.write(pickle.dumps(v, protocol=${protocol}))`;
      const run = await new Deno.Command(PYTHON, { args: ["-c", script], stdout: "piped" }).output();
      assert.ok(run.success);
      const value = unpickle(run.stdout, { label: `protocol ${protocol}`, findGlobal: latin1 }) as Map<string, unknown>;
      assert.deepEqual(value.get("ints"), [
        0,
        1,
        -1,
        255,
        65535,
        2 ** 31 - 1,
        -(2 ** 31),
        2 ** 40,
        -(2n ** 70n),
        2n ** 53n + 1n,
      ]);
      assert.deepEqual(value.get("floats"), [1.5, -0, Infinity]);
      assert.deepEqual(value.get("flags"), [true, false, null]);
      assert.deepEqual(value.get("text"), ["", "ü€"]);
      assert.deepEqual(Array.from(value.get("raw") as Uint8Array), [0x78, 0x79]);
      assert.deepEqual(value.get("tuples"), [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]);
      const sets = protocol >= 4;
      assert.deepEqual(
        value.get("nested"),
        new Map<unknown, unknown>(sets ? [[3, "three"], ["s", new Set([1, 2])]] : [[3, "three"]]),
      );
      assert.deepEqual(value.get("frozen"), sets ? new Set([5]) : undefined);
      assert.equal(value.get("long"), "x".repeat(300));
      const [a, b] = value.get("shared") as unknown[][];
      assert.equal(a, b, `protocol ${protocol}: the memo keeps one shared object`);
    }
  },
});

Deno.test("unpickle() hands globals to findGlobal and calls only PyCallable stand-ins", () => {
  const pair = new PyCallable("demo.pair", (args) => ({ pair: args }));
  const find = (m: string, n: string) => m === "demo" && n === "pair" ? pair : refuse(m, n);
  assert.deepEqual(unpickle(bytesOf("\x80\x02cdemo\npair\nK\x01K\x02\x86R."), { label: "t", findGlobal: find }), {
    pair: [1, 2],
  });
  assert.throws(
    () => unpickle(bytesOf("\x80\x02cposix\nsystem\nX\x02\x00\x00\x00ls\x85R."), { label: "t", findGlobal: find }),
    {
      message: "Refused posix.system",
    },
  );
  // STACK_GLOBAL (protocol 4) reaches findGlobal the same way.
  assert.throws(
    () =>
      unpickle(bytesOf("\x80\x04\x8c\x08builtins\x8c\x04eval\x93)R."), {
        label: "t",
        findGlobal: find,
      }),
    { message: "Refused builtins.eval" },
  );
  // Calling a value that is not a stand-in (here a string) is refused.
  assert.throws(() => unpickle(bytesOf("\x80\x02X\x01\x00\x00\x00f)R."), { label: "t", findGlobal: find }), {
    message: /^Invalid pickle in t: it calls a value that is not an allowed callable$/,
  });
});

Deno.test("unpickle() refuses every truncation, unsupported opcodes and persistent ids it was not given", () => {
  const valid = bytesOf("\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01M\x00\x01\x8a\x02\x00\x80eu.");
  assert.deepEqual(unpickle(valid, { label: "t", findGlobal: refuse }), new Map([["a", [1, 256, -32768]]]));
  for (let n = 0; n < valid.length; n++) {
    assert.throws(() => unpickle(valid.subarray(0, n), { label: "t", findGlobal: refuse }), (error: Error) => {
      assert.match(error.message, /^Invalid pickle in t: it /);
      assert.ok(!error.message.includes("\n"));
      return true;
    });
  }
  assert.throws(() => unpickle(bytesOf("\x80\x02i__main__\nX\n."), { label: "t", findGlobal: refuse }), /INST/);
  assert.throws(() => unpickle(bytesOf("\x80\x02\x82\x01."), { label: "t", findGlobal: refuse }), /opcode 0x82/);
  assert.throws(() => unpickle(bytesOf("\x80\x02K\x01Q."), { label: "t", findGlobal: refuse }), /persistent id/);
  assert.throws(() => unpickle(bytesOf("\x80\x09N."), { label: "t", findGlobal: refuse }), /protocol 9/);
});

Deno.test("unpickleAt() reads a stream of pickles one after another", () => {
  const bytes = bytesOf("\x80\x02K\x07.\x80\x02X\x02\x00\x00\x00hi.");
  const first = unpickleAt(bytes, { label: "t", findGlobal: refuse });
  const second = unpickleAt(bytes, { label: "t", findGlobal: refuse, offset: first.end });
  assert.deepEqual([first.value, second.value, second.end], [7, "hi", bytes.length]);
});
