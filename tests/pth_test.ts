/**
 * PyTorch checkpoints read without Python: files written by torch.save (Debian's python3-torch) in
 * both formats, plain, with DataParallel's `module.` prefix and wrapped in {"state_dict": ...};
 * torchvision's ResNet-50 to PyTorch's logits; hostile pickles refused with nothing run; damaged
 * files refused in one line. Tests that need torch skip with the reason in their name.
 */
import assert from "node:assert/strict";
import { noGrad } from "../nn/autograd.ts";
import { parseCheckpoint, readCheckpoint } from "../nn/io/weights.ts";
import { openZip } from "../nn/io/zip.ts";
import { Linear } from "../nn/layers.ts";
import { resnet50 } from "../nn/resnet.ts";
import { loadWeights, readSafetensors } from "../nn/safetensors.ts";
import { convertCheckpoint } from "../scripts/convert.ts";
import { tensor } from "../mod.ts";
import { assertRejects, granted, testWith, withTempDir } from "./helpers.ts";
import { LEGACY_PREAMBLE, legacyCheckpoint, SMALL_STATE, storedZip, zipCheckpoint } from "./pth/fixtures.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./pth/make_checkpoints.py", import.meta.url).pathname;

function torchMissing(): string | null {
  if (!granted("run", "read", "write")) return "needs --allow-run --allow-read --allow-write";
  try {
    const probe = new Deno.Command(PYTHON, {
      args: ["-c", "import torch, torchvision"],
      stdout: "null",
      stderr: "null",
    });
    return probe.outputSync().success ? null : `${PYTHON} cannot import torch and torchvision`;
  } catch {
    return `no ${PYTHON}`;
  }
}

const skip = torchMissing();

function torchTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name: skip ? `${name} (skipped: ${skip})` : name, ignore: skip !== null, fn });
}

async function python(...args: string[]): Promise<void> {
  const run = await new Deno.Command(PYTHON, { args: [SCRIPT, ...args], stdout: "piped", stderr: "piped" }).output();
  assert.ok(run.success, new TextDecoder().decode(run.stderr));
}

/** Asserts that `fn` throws a one-line Error matching `pattern` (not a TypeError or RangeError). */
function assertOneLineError(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Error && error.constructor === Error, `not a plain Error: ${error}`);
    assert.ok(!error.message.includes("\n"), `more than one line: ${error.message}`);
    assert.match(error.message, /^[A-Z]/);
    assert.match(error.message, pattern);
    return;
  }
  assert.fail(`no error; expected ${pattern}`);
}

function disposeAll(tensors: Record<string, { dispose(): void }>): void {
  for (const t of Object.values(tensors)) t.dispose();
}

torchTest(
  "readCheckpoint() reads torch.save's zip and legacy files, plain, module.-prefixed and wrapped, exactly",
  () =>
    withTempDir(async (dir) => {
      await python("small", dir);
      const expected: Record<string, { shape: number[]; values: number[] }> = JSON.parse(
        await Deno.readTextFile(`${dir}/small.json`),
      );
      for (const variant of ["plain", "module", "wrapped"]) {
        for (const format of ["zip", "legacy"]) {
          const { tensors, integerKeys, metadata, format: found } = await readCheckpoint(
            `${dir}/small-${variant}-${format}.pth`,
          );
          const label = `${variant} ${format}`;
          assert.equal(found, `pth-${format}`, label);
          assert.deepEqual(Object.keys(tensors).sort(), Object.keys(expected).sort(), label);
          // float16, bfloat16, int32 and bool values are all exact in float32; float64 stays float64.
          for (const [key, { shape, values }] of Object.entries(expected)) {
            assert.deepEqual(tensors[key].shape, shape, `${label} ${key} shape`);
            assert.deepEqual(Array.from(tensors[key].toFloat64Array()), values, `${label} ${key} values`);
          }
          assert.equal(tensors.double.dtype, "float64");
          assert.deepEqual([...integerKeys].sort(), ["bn.num_batches_tracked", "ints", "mask"], label);
          assert.deepEqual(metadata, variant === "wrapped" ? { epoch: "7", arch: "tiny" } : {}, label);
          disposeAll(tensors);
        }
      }
    }),
);

torchTest(
  "loadWeights() loads torchvision's ResNet-50 from both .pth formats to PyTorch's eval logits",
  () =>
    withTempDir(async (dir) => {
      await python("resnet50", dir);
      const reference: { input: number[]; logits: number[] } = JSON.parse(
        await Deno.readTextFile(`${dir}/resnet50.json`),
      );
      for (const file of ["resnet50-zip.pth", "resnet50-legacy.pth"]) {
        const model = resnet50({ numClasses: 10 });
        await loadWeights(`${dir}/${file}`, model);
        model.eval();
        const logits = noGrad(() => model.forward(tensor(reference.input, [2, 3, 64, 64]))).toFloat64Array();
        // float32 on both sides, ~50 layers of different summation orders: 1e-4 relative L2, as the
        // float32 parity test allows (the weights themselves are bit-exact, see the test above).
        let num = 0, den = 0;
        reference.logits.forEach((e, i) => (num += (logits[i] - e) ** 2, den += e ** 2));
        assert.ok(Math.sqrt(num / den) < 1e-4, `${file}: relative error ${Math.sqrt(num / den)}`);
      }
    }),
);

torchTest(
  "a pickle that would call os.system or builtins.eval is refused by name and nothing runs",
  () =>
    withTempDir(async (dir) => {
      const marker = `${dir}/pwned`;
      await python("hostile", dir, marker);
      const cases: [string, RegExp][] = [
        ["hostile-zip.pth", /Refusing to load .*hostile-zip\.pth: it names the global posix\.system/],
        ["hostile-protocol4.pth", /names the global posix\.system/],
        ["hostile-legacy.pth", /names the global posix\.system/],
        ["hostile-eval.pth", /names the global builtins\.eval/],
      ];
      for (const [file, pattern] of cases) {
        assertOneLineError(() => parseCheckpoint(Deno.readFileSync(`${dir}/${file}`), file), pattern);
        await assertRejects(loadWeights(`${dir}/${file}`, new Linear(2, 2)), pattern);
      }
      await assert.rejects(Deno.stat(marker), Deno.errors.NotFound, "the payload ran");
    }),
);

torchTest(
  "damaged torch.save files give one-line errors: truncated directory or storage, bad CRC, wrong magic",
  () =>
    withTempDir(async (dir) => {
      await python("small", dir);
      const zip = await Deno.readFile(`${dir}/small-plain-zip.pth`);
      const legacy = await Deno.readFile(`${dir}/small-plain-legacy.pth`);
      checkDamage(zip, legacy);
    }),
);

/** The damage cases, on files from torch.save or from the fixture writer. */
function checkDamage(zip: Uint8Array, legacy: Uint8Array): void {
  assertOneLineError(
    () => parseCheckpoint(zip.subarray(0, zip.length - 30), "cut.pth"),
    /Invalid zip archive cut\.pth/,
  );
  assertOneLineError(() => parseCheckpoint(zip.subarray(0, zip.length / 2), "half.pth"), /truncated/);
  const flipped = zip.slice();
  const entry = openZip(zip, "zip").entry([...openZip(zip, "zip").names()].find((n) => n.endsWith("/data/0"))!)!;
  const header = new DataView(zip.buffer, zip.byteOffset + entry.localHeaderOffset);
  flipped[entry.localHeaderOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true)] ^= 0x10;
  assertOneLineError(
    () => parseCheckpoint(flipped, "crc.pth"),
    /data\/0" fails its CRC-32 check \(.*\): the file is corrupt/,
  );
  assertOneLineError(() => parseCheckpoint(legacy.subarray(0, legacy.length - 3), "short.pth"), /truncated/);
  const magic = legacy.slice();
  magic[5] ^= 0xff;
  assertOneLineError(() => parseCheckpoint(magic, "magic.pth"), /wrong magic number/);
}

function findBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("Fixture lacks the searched bytes");
}

Deno.test("the fixture writer's zip (stored or deflated) and legacy files read back, in any archive folder", () => {
  const files = [
    zipCheckpoint(SMALL_STATE),
    zipCheckpoint(SMALL_STATE, "resnet50"),
    zipCheckpoint(SMALL_STATE, "archive", true),
    legacyCheckpoint(SMALL_STATE),
  ];
  for (const bytes of files) {
    const { tensors, integerKeys } = parseCheckpoint(bytes, "fixture");
    for (const { key, shape, values } of SMALL_STATE) {
      assert.deepEqual(tensors[key].shape, shape);
      assert.deepEqual(Array.from(tensors[key].toFloat64Array()), values.map(Math.fround));
    }
    assert.deepEqual([...integerKeys], ["bn.num_batches_tracked"]);
    disposeAll(tensors);
  }
});

Deno.test("damaged fixture files give one-line errors: truncated directory or storage, bad CRC, wrong magic", () => {
  checkDamage(zipCheckpoint(SMALL_STATE), legacyCheckpoint(SMALL_STATE));
});

Deno.test("a zip whose CRC does not match its storage is refused as corrupt", () => {
  const zip = zipCheckpoint(SMALL_STATE);
  const at = findBytes(zip, new Uint8Array([0x00, 0x00, 0x00, 0x3f])); // 0.5 as little-endian float32
  zip[at + 3] = 0x3e;
  assertOneLineError(() => parseCheckpoint(zip, "crc.pth"), /entry "archive\/data\/0" fails its CRC-32 check/);
});

Deno.test("a legacy stream whose object pickle names os.system is refused before anything is built", () => {
  const payload = Uint8Array.from("\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.", (c) => c.charCodeAt(0));
  const bytes = new Uint8Array([...LEGACY_PREAMBLE, ...payload]);
  assertOneLineError(
    () => parseCheckpoint(bytes, "bad.pth"),
    /^Refusing to load bad\.pth: it names the global posix\.system/,
  );
});

Deno.test("a state dict entry that is not a tensor, or an archive without data.pkl, is named in one line", () => {
  const notTensor = storedZip([[
    "archive/data.pkl",
    new Uint8Array([0x80, 2, 0x7d, 0x58, 1, 0, 0, 0, 0x61, 0x4b, 1, 0x73, 0x2e]),
  ]]);
  assertOneLineError(() => parseCheckpoint(notTensor, "x.pth"), /1 entries that are not tensors \("a"\)/);
  const noPickle = storedZip([["archive/version", new Uint8Array([0x33])]]);
  assertOneLineError(() => parseCheckpoint(noPickle, "y.pth"), /has no FOLDER\/data\.pkl/);
});

testWith("convert writes the same keys as F32/I64 safetensors, atomically, and refuses to overwrite without --force", [
  "read",
  "write",
], () =>
  withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/in.pth`, legacyCheckpoint(SMALL_STATE));
    const result = await convertCheckpoint(`${dir}/in.pth`, `${dir}/out.safetensors`);
    assert.deepEqual({ tensors: result.tensors, integers: result.integers, format: result.format }, {
      tensors: 3,
      integers: 1,
      format: "pth-legacy",
    });
    const { tensors, metadata } = await readSafetensors(`${dir}/out.safetensors`);
    for (const { key, values } of SMALL_STATE) {
      assert.deepEqual(Array.from(tensors[key].toFloat64Array()), values.map(Math.fround));
    }
    assert.equal(metadata.converted_from, "pth-legacy");
    disposeAll(tensors);
    await assertRejects(convertCheckpoint(`${dir}/in.pth`, `${dir}/out.safetensors`), /exists; pass --force/);
    await convertCheckpoint(`${dir}/in.pth`, `${dir}/out.safetensors`, { force: true });
    const script = new URL("../scripts/convert.ts", import.meta.url).pathname;
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, `${dir}/in.pth`, `${dir}/out.safetensors`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(run.code, 2);
    assert.match(
      new TextDecoder().decode(run.stderr).trim(),
      /^error: .*out\.safetensors exists; pass --force to overwrite it$/,
    );
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(), [
      "in.pth",
      "out.safetensors",
    ]);
  }));
