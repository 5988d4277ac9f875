import assert from "node:assert/strict";
import { BatchNorm2d, Conv2d, type Module, Sequential } from "../nn/layers.ts";
import { manualSeed } from "../nn/random.ts";
import {
  loadWeights,
  parseSafetensors,
  readSafetensors,
  saveWeights,
  serializeSafetensors,
  writeSafetensors,
} from "../nn/safetensors.ts";
import { randn, tensor } from "../nn/creation.ts";
import { memory } from "../nn/memory.ts";
import { tidy } from "../nn/scope.ts";
import type { Tensor } from "../nn/tensor.ts";
import {
  assertRejects,
  assertThrows,
  PYTHON,
  pythonLacks,
  readSafetensorsHeader,
  testWith,
  withTempDir,
} from "./helpers.ts";

/** Assembles a file: 8-byte length, the header (JSON of an object, or raw text), then the data. */
function buildFile(header: unknown, data = new Uint8Array(), padding = 0): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text + " ".repeat(padding));
  const bytes = new Uint8Array(8 + json.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  return bytes;
}

async function listDir(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

function smallModel(seed: number): Sequential {
  manualSeed(seed);
  return new Sequential(new Conv2d(2, 3, 3, { padding: 1 }), new BatchNorm2d(3));
}

/** Copies of every state tensor's values. */
function snapshot(model: Module): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(model.stateDict()).map(([key, t]) => [key, t.toFloat32Array()]));
}

/** Asserts that two snapshots hold the same bits. */
function assertSameBits(actual: Record<string, Float32Array>, expected: Record<string, Float32Array>): void {
  assert.deepEqual(Object.keys(actual), Object.keys(expected));
  for (const key of Object.keys(expected)) {
    assert.deepEqual(new Uint8Array(actual[key].buffer), new Uint8Array(expected[key].buffer), key);
  }
}

function liveTensors(): number {
  return memory().cpu?.tensors ?? 0;
}

testWith(
  "saveWeights() and loadWeights() round-trip a trained model bit for bit, num_batches_tracked as I64",
  ["read", "write"],
  async () => {
    await withTempDir(async (dir) => {
      const source = smallModel(1);
      tidy(() => source.forward(randn([2, 2, 5, 5]))); // train mode: running stats and the counter move
      const path = `${dir}/model.safetensors`;
      await saveWeights(path, source, { epoch: "1" });
      const target = smallModel(2);
      assert.notDeepEqual(snapshot(target)["0.weight"], snapshot(source)["0.weight"]);

      const result = await loadWeights(path, target);
      assert.deepEqual(result, { metadata: { epoch: "1" }, missingKeys: [], unexpectedKeys: [] });
      assertSameBits(snapshot(target), snapshot(source));
      assert.equal(target.stateDict()["1.num_batches_tracked"].item(), 1);

      const { header, headerLength } = readSafetensorsHeader(await Deno.readFile(path));
      assert.equal(headerLength % 8, 0);
      assert.deepEqual(header["1.num_batches_tracked"].dtype, "I64");
      assert.deepEqual(header["1.num_batches_tracked"].shape, []);
      // Keys are sorted, so 0.weight follows 0.bias.
      assert.deepEqual(header["0.weight"], { dtype: "F32", shape: [3, 2, 3, 3], data_offsets: [12, 228] });
      source.dispose();
      target.dispose();
    });
  },
);

Deno.test("parseSafetensors() decodes a hand-built file with F16, BF16, F32, F64, I64, I32 and metadata", () => {
  // Bytes per element and how to store one, for each dtype the file uses.
  const writers: Record<string, [number, (view: DataView, at: number, x: number) => void]> = {
    F16: [2, (v, at, x) => v.setUint16(at, x, true)],
    BF16: [2, (v, at, x) => v.setUint16(at, x, true)],
    F32: [4, (v, at, x) => v.setFloat32(at, x, true)],
    F64: [8, (v, at, x) => v.setFloat64(at, x, true)],
    I64: [8, (v, at, x) => v.setBigInt64(at, BigInt(x), true)],
    I32: [4, (v, at, x) => v.setInt32(at, x, true)],
  };
  const specs: [name: string, dtype: string, shape: number[], values: number[]][] = [
    // 1, -2.5, 65504 (largest), 2^-24 (smallest subnormal), largest subnormal, -0, inf, -inf, NaN
    ["half", "F16", [3, 3], [0x3c00, 0xc100, 0x7bff, 0x0001, 0x03ff, 0x8000, 0x7c00, 0xfc00, 0x7e00]],
    // 1, -2, 3.140625, -inf: the upper halves of their float32 bits
    ["brain", "BF16", [4], [0x3f80, 0xc000, 0x4049, 0xff80]],
    ["single", "F32", [2, 1], [1.5, -3.25]],
    ["double", "F64", [1], [0.1]],
    ["long", "I64", [3], [0, -7, 2 ** 24]],
    ["int", "I32", [], [-123456]],
  ];
  const header: Record<string, unknown> = { __metadata__: { format: "pt", note: "hand-built" } };
  const begins: number[] = [];
  let end = 0;
  for (const [name, dtype, shape, values] of specs) {
    begins.push(end);
    header[name] = { dtype, shape, data_offsets: [end, end + writers[dtype][0] * values.length] };
    end += writers[dtype][0] * values.length;
  }
  const data = new DataView(new ArrayBuffer(end));
  specs.forEach(([, dtype, , values], k) => {
    const [size, set] = writers[dtype];
    values.forEach((x, i) => set(data, begins[k] + i * size, x));
  });
  // 3 spaces of padding: valid JSON, and it leaves the data unaligned.
  const bytes = buildFile(header, new Uint8Array(data.buffer), 3);
  tidy(() => {
    const { tensors, metadata } = parseSafetensors(bytes, "hand-built.safetensors");
    assert.deepEqual(metadata, { format: "pt", note: "hand-built" });
    assert.deepEqual(tensors.half.toArray(), [
      1,
      -2.5,
      65504,
      2 ** -24,
      1023 * 2 ** -24,
      -0,
      Infinity,
      -Infinity,
      NaN,
    ]);
    assert.deepEqual(tensors.brain.toArray(), [1, -2, 3.140625, -Infinity]);
    assert.deepEqual(tensors.single.toArray(), [1.5, -3.25]);
    assert.deepEqual(tensors.double.toArray(), [0.1]);
    assert.deepEqual(tensors.long.toArray(), [0, -7, 2 ** 24]);
    assert.deepEqual(tensors.int.toArray(), [-123456]);
    assert.deepEqual(tensors.half.shape, [3, 3]);
    assert.deepEqual(tensors.int.shape, []);
    assert.equal(tensors.double.dtype, "float64");
    assert.ok(Object.values(tensors).every((t) => t.device.name === "cpu"));
    assert.equal(Object.values(tensors).filter((t) => t.dtype === "float32").length, 5);
  });
});

Deno.test("serializeSafetensors() sorts keys, pads the header to 8 bytes, and parses back", () => {
  tidy(() => {
    const bytes = serializeSafetensors(
      { z: tensor([1.5, -2], [2, 1]), a: tensor([0.1], [1], { dtype: "float64" }), n: tensor(7) },
      { metadata: { k: "v" }, integerKeys: new Set(["n"]) },
    );
    const { header, headerLength } = readSafetensorsHeader(bytes);
    assert.equal(headerLength % 8, 0);
    assert.deepEqual(Object.keys(header), ["__metadata__", "a", "n", "z"]);
    assert.deepEqual(header.a, { dtype: "F64", shape: [1], data_offsets: [0, 8] });
    assert.deepEqual(header.n, { dtype: "I64", shape: [], data_offsets: [8, 16] });
    assert.deepEqual(header.z, { dtype: "F32", shape: [2, 1], data_offsets: [16, 24] });
    assert.equal(new DataView(bytes.buffer).getBigInt64(8 + headerLength + 8, true), 7n);
    const { tensors, metadata } = parseSafetensors(bytes, "memory");
    assert.deepEqual(metadata, { k: "v" });
    assert.deepEqual(tensors.a.toArray(), [0.1]);
    assert.equal(tensors.a.dtype, "float64");
    assert.deepEqual(tensors.n.toArray(), [7]);
    assert.deepEqual(tensors.z.shape, [2, 1]);
    assert.deepEqual(tensors.z.toArray(), [1.5, -2]);
  });
});

Deno.test("parseSafetensors() refuses each kind of bad input with the file name and the problem", () => {
  const data = new Uint8Array(8);
  const entry = (fields: Record<string, unknown>) =>
    buildFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8], ...fields } }, data);
  const integer = (dtype: string, value: bigint) => {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigInt64(0, value, true);
    return buildFile(
      { a: { dtype, shape: [1], data_offsets: [0, dtype === "I64" ? 8 : 4] } },
      bytes.subarray(0, dtype === "I64" ? 8 : 4),
    );
  };
  const hugeLength = new Uint8Array(16);
  new DataView(hugeLength.buffer).setBigUint64(0, 2n ** 40n, true);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(5), /5 bytes is shorter than the 8-byte header length/],
    [entry({}).subarray(0, 18), /header length \d+ exceeds the 10 bytes after it \(truncated file\?\)/],
    [hugeLength, /header length 1099511627776 exceeds the 8 bytes after it/],
    [buildFile("{nope"), /header is not valid JSON/],
    [buildFile("[1, 2]"), /header is not a JSON object/],
    [buildFile({ a: { shape: [2], data_offsets: [0, 8] } }, data), /tensor "a" has no dtype/],
    [entry({ shape: [-2] }), /tensor "a" shape must be a list of non-negative integers/],
    [entry({ shape: [1.5] }), /tensor "a" shape must be a list of non-negative integers/],
    [entry({ data_offsets: [0] }), /tensor "a" data_offsets must be two non-negative integers/],
    [
      entry({ data_offsets: [0, 16] }),
      /tensor "a" data_offsets \[0, 16\] are out of range for the 8-byte data section/,
    ],
    [entry({ data_offsets: [8, 0] }), /tensor "a" data_offsets \[8, 0\] are out of range/],
    [
      entry({ dtype: "F8_E4M3" }),
      /tensor "a" has unsupported dtype "F8_E4M3" \(supported: F64, F32, F16, BF16, I64, I32\)/,
    ],
    [entry({ dtype: "constructor" }), /tensor "a" has unsupported dtype "constructor"/],
    [entry({ shape: [3] }), /tensor "a" data_offsets hold 8 bytes, but F32 shape \[3\] needs 12/],
    [
      integer("I32", 2n ** 24n + 1n),
      /tensor "a" holds 16777217 at index 0, which cannot be represented exactly as float32/,
    ],
    [
      integer("I64", 2n ** 53n + 1n),
      /tensor "a" holds 9007199254740993 at index 0, which cannot be represented exactly/,
    ],
    [buildFile({ __metadata__: { epoch: 3 } }), /__metadata__ must map strings to strings/],
  ];
  const before = liveTensors();
  for (const [bytes, pattern] of cases) {
    assertThrows(() => parseSafetensors(bytes, "runs/bad.safetensors"), pattern);
    assertThrows(
      () => parseSafetensors(bytes, "runs/bad.safetensors"),
      /^Invalid safetensors file runs\/bad\.safetensors: /,
    );
  }
  assert.equal(liveTensors(), before, "a refused file must not leave tensors behind");
  // Overlapping ranges are unusual but in range, so they are accepted.
  const shared = buildFile({
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
  }, data);
  tidy(() => assert.deepEqual(Object.keys(parseSafetensors(shared, "shared").tensors), ["a", "b"]));
});

testWith("readSafetensors() names the path of a truncated or missing file", ["read", "write"], async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/short.safetensors`, new Uint8Array(3));
    await assertRejects(
      readSafetensors(`${dir}/short.safetensors`),
      /^Invalid safetensors file .*\/short\.safetensors: 3 bytes is shorter than the 8-byte header length$/,
    );
    await assertRejects(
      readSafetensors(`${dir}/missing.safetensors`),
      /^Cannot read .*\/missing\.safetensors: /,
    );
  });
});

testWith(
  "loadWeights() refuses a missing key or a wrong shape, names them, and leaves the model unchanged",
  ["read", "write"],
  async () => {
    await withTempDir(async (dir) => {
      const model = smallModel(3);
      const state = model.stateDict();
      const integerKeys = model.integerStateKeys();
      const partial = Object.fromEntries(Object.entries(state).filter(([key]) => key !== "1.running_var"));
      await writeSafetensors(`${dir}/missing.safetensors`, partial, { integerKeys });
      const narrow = tensor(new Float32Array(6), [3, 2, 1, 1]);
      await writeSafetensors(`${dir}/shape.safetensors`, { ...state, "0.weight": narrow }, { integerKeys });
      narrow.dispose();
      const before = snapshot(model);
      const live = liveTensors();

      await assertRejects(
        loadWeights(`${dir}/missing.safetensors`, model),
        /^Cannot load weights from .*\/missing\.safetensors: loadStateDict\(Sequential\): missing keys: 1\.running_var$/,
      );
      await assertRejects(
        loadWeights(`${dir}/shape.safetensors`, model),
        /^Cannot load weights from .*\/shape\.safetensors: .*0\.weight: expected shape \[3,2,3,3\], got \[3,2,1,1\]/,
      );
      assertSameBits(snapshot(model), before);
      assert.equal(liveTensors(), live, "the tensors read from the file must be disposed on error");

      const other = smallModel(4);
      const result = await loadWeights(`${dir}/missing.safetensors`, other, { strict: false });
      assert.deepEqual(result.missingKeys, ["1.running_var"]);
      assert.deepEqual(result.unexpectedKeys, []);
      assertSameBits(snapshot(other), { ...before, "1.running_var": snapshot(other)["1.running_var"] });
      model.dispose();
      other.dispose();
    });
  },
);

testWith(
  "writeSafetensors() replaces a file atomically and, when it fails, keeps the old file and no temp file",
  ["read", "write"],
  async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/w.safetensors`;
      const a = tensor([1, 2]);
      await writeSafetensors(path, { a });
      const b = tensor([3, 4, 5]);
      await writeSafetensors(path, { a: b }, { metadata: { version: "2" } });
      const { tensors, metadata } = await readSafetensors(path);
      assert.deepEqual(tensors.a.toArray(), [3, 4, 5]);
      assert.deepEqual(metadata, { version: "2" });
      tensors.a.dispose();
      assert.deepEqual(await listDir(dir), ["w.safetensors"]);

      const good = await Deno.readFile(path);
      const gone = tensor([1]);
      gone.dispose();
      await assertRejects(
        writeSafetensors(path, { a, gone }),
        /^Cannot write .*\/w\.safetensors: tensor "gone" is disposed$/,
      );
      const fraction = tensor([2, 1.5]);
      await assertRejects(
        writeSafetensors(path, { n: fraction }, { integerKeys: new Set(["n"]) }),
        /^Cannot write .*\/w\.safetensors: integer tensor "n" holds 1\.5 at index 1, which is not a whole number$/,
      );
      // Failures after the temporary file exists: a non-empty directory in the way of the rename.
      await Deno.mkdir(`${dir}/blocked.safetensors/inside`, { recursive: true });
      await assertRejects(
        writeSafetensors(`${dir}/blocked.safetensors`, { a }),
        /^Cannot write .*\/blocked\.safetensors: /,
      );
      await assertRejects(
        writeSafetensors(`${dir}/no/such/w.safetensors`, { a }),
        /^Cannot write .*\/no\/such\/w\.safetensors: /,
      );
      assert.deepEqual(await Deno.readFile(path), good);
      assert.deepEqual(await listDir(dir), ["blocked.safetensors", "w.safetensors"]);
      for (const t of [a, b, fraction]) t.dispose();
    });
  },
);

/** Exports a state dict from PyTorch and checks ours there (tests/parity/torch_interop.py). */
const TORCH_SCRIPT = new URL("./parity/torch_interop.py", import.meta.url).pathname;

async function runPython(script: string, ...args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(PYTHON, { args: [script, ...args] }).output();
  const decoder = new TextDecoder();
  if (!success) throw new Error(`Python failed: ${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

const torchTestName = "loadWeights() and saveWeights() exchange a Conv2d + BatchNorm2d state dict with PyTorch";
const torchReason = pythonLacks(["torch"]);
if (torchReason) {
  Deno.test({ name: `${torchTestName} (skipped: ${torchReason})`, ignore: true, fn() {} });
} else {
  testWith(torchTestName, ["read", "write", "run"], async () => {
    await withTempDir(async (dir) => {
      // PyTorch -> Deno: identical keys, exact values.
      await runPython(TORCH_SCRIPT, "export", dir);
      const model = smallModel(5);
      await loadWeights(`${dir}/torch.safetensors`, model);
      const expected: Record<string, number[]> = JSON.parse(await Deno.readTextFile(`${dir}/torch.json`));
      assertSameBits(
        snapshot(model),
        Object.fromEntries(Object.entries(expected).map(([key, values]) => [key, Float32Array.from(values)])),
      );

      // Deno -> PyTorch, after a train step here so that the values are Deno's own.
      tidy(() => model.forward(randn([3, 2, 5, 5])));
      await saveWeights(`${dir}/deno.safetensors`, model, { from: "deno" });
      const state = Object.entries(model.stateDict()).map(([key, t]: [string, Tensor]) => [key, t.toArray()]);
      await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify(Object.fromEntries(state)));
      const verdict = JSON.parse(await runPython(TORCH_SCRIPT, "import", dir));
      assert.deepEqual(verdict, { ok: true, problems: [], metadata: { from: "deno" } });
      assert.equal(model.stateDict()["1.num_batches_tracked"].item(), 2);
      model.dispose();
    });
  });
}
