/**
 * IDX datasets (MNIST, Fashion-MNIST): parsing, errors, loading from a folder, and the real
 * Fashion-MNIST files when Debian's dataset-fashion-mnist is installed.
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { datasetNormalization, idxSplit, loadDataset, loadIdxDataset, parseIdx } from "../scripts/data.ts";
import { assertRejects, assertThrows, PYTHON, pythonLacks, testWith, withTempDir } from "./helpers.ts";

const FASHION = "/usr/share/datasets/fashion-mnist";

/** An IDX file of unsigned bytes with the given dimensions. */
function idxBytes(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

Deno.test("parseIdx() reads raw and gzipped IDX files alike", () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) & 255);
  const raw = idxBytes([2, 3, 4], data);
  for (const bytes of [raw, new Uint8Array(gzipSync(raw))]) {
    const parsed = parseIdx(bytes, "x");
    assertEquals(parsed.dims, [2, 3, 4]);
    assertEquals([...parsed.data], [...data]);
  }
});

Deno.test("parseIdx() refuses bad magic, other types, truncated data and corrupt gzip in one line", () => {
  const good = idxBytes([3], new Uint8Array([1, 2, 3]));
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array([1, 2, 8, 1, 0, 0, 0, 0]), /not an IDX file/],
    [Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), /type 0xd/],
    [good.subarray(0, good.length - 1), /2 data bytes, its header promises 3/],
    [good.subarray(0, 6), /truncated IDX header/],
    [new Uint8Array(gzipSync(good)).subarray(0, 12), /not a valid gzip file/],
  ];
  for (const [bytes, pattern] of cases) assertThrows(() => parseIdx(bytes, "f.gz"), pattern);
});

Deno.test("idxSplit() pads 28-style images by 2 pixels and repeats them over 3 channels", () => {
  const images = { dims: [2, 2, 3], data: Uint8Array.from({ length: 12 }, (_, i) => i + 1) };
  const split = idxSplit("mnist", images, { dims: [2], data: new Uint8Array([1, 0]) }, ["a", "b"]);
  assertEquals([split.count, split.channels, split.height, split.width], [2, 3, 6, 7]);
  const plane = 6 * 7;
  for (let i = 0; i < 2; i++) {
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 7; x++) {
          const inside = y >= 2 && y < 4 && x >= 2 && x < 5;
          const expected = inside ? images.data[(i * 2 + y - 2) * 3 + x - 2] : 0;
          assertEquals(split.images[(i * 3 + c) * plane + y * 7 + x], expected);
        }
      }
    }
  }
  assertEquals([...split.labels], [1, 0]);
  assertThrows(
    () => idxSplit("mnist", images, { dims: [2], data: new Uint8Array([2, 0]) }, ["a", "b"]),
    /label 0 is 2/,
  );
  assertThrows(
    () => idxSplit("mnist", images, { dims: [3], data: new Uint8Array(3) }, ["a", "b"]),
    /2 images but labels/,
  );
});

testWith("loadIdxDataset() reads the four files of a folder and names a missing one", ["read", "write"], async () => {
  await withTempDir(async (dir) => {
    const write = (name: string, dims: number[], data: Uint8Array) =>
      Deno.writeFile(join(dir, name), gzipSync(idxBytes(dims, data)));
    const train = Uint8Array.from({ length: 3 * 28 * 28 }, (_, i) => (i * 7) & 255);
    await write("train-images-idx3-ubyte.gz", [3, 28, 28], train);
    await write("train-labels-idx1-ubyte.gz", [3], new Uint8Array([9, 0, 4]));
    await write("t10k-images-idx3-ubyte.gz", [1, 28, 28], new Uint8Array(784).fill(200));
    await assertRejects(
      loadIdxDataset("mnist", dir),
      /t10k-labels-idx1-ubyte\.gz is missing; run `deno task data --dataset mnist/,
    );
    await write("t10k-labels-idx1-ubyte.gz", [1], new Uint8Array([7]));
    const splits = await loadDataset("mnist", { dataDir: dir });
    assertEquals([splits.train.count, splits.test.count, splits.train.height, splits.train.width], [3, 1, 32, 32]);
    assertEquals([...splits.train.labels], [9, 0, 4]);
    // Pixel (y, x) of image 1 lands at (y + 2, x + 2) in every channel.
    assertEquals(splits.train.images[(1 * 3 + 2) * 1024 + (5 + 2) * 32 + 6 + 2], train[784 + 5 * 28 + 6]);
    assertEquals(splits.test.images[2 * 32 + 2], 200);
  });
});

const haveFashion = (() => {
  try {
    return Deno.statSync(join(FASHION, "t10k-labels-idx1-ubyte.gz")).isFile;
  } catch {
    return false;
  }
})();

testWith(
  haveFashion
    ? "the real Fashion-MNIST matches what Python's gzip reads"
    : `the real Fashion-MNIST (skipped: ${FASHION} is absent; apt install dataset-fashion-mnist)`,
  ["read", "run", "env"],
  async (t) => {
    if (!haveFashion) return;
    const splits = await loadDataset("fashion-mnist", { dataDir: FASHION });
    assertEquals([splits.train.count, splits.test.count, splits.test.height], [60000, 10000, 32]);
    assertEquals(splits.test.classes[9], "Ankle boot");
    const norm = datasetNormalization("fashion-mnist");
    let sum = 0;
    for (let i = 0; i < splits.train.count * 1024; i += 97) sum += splits.train.images[i + Math.floor(i / 1024) * 2048];
    const mean = sum / Math.ceil(splits.train.count * 1024 / 97) / 255;
    if (Math.abs(mean - norm.mean[0]) > 0.01) throw new Error(`train mean ${mean}, normalisation says ${norm.mean[0]}`);
    const lacking = pythonLacks(["gzip"]);
    if (lacking) {
      await t.step({ name: `python cross-check (skipped: ${lacking})`, ignore: true, fn: () => {} });
      return;
    }
    const script = `import gzip\nd=gzip.open('${FASHION}/t10k-images-idx3-ubyte.gz').read()[16:]\n` +
      `l=gzip.open('${FASHION}/t10k-labels-idx1-ubyte.gz').read()[8:]\n` +
      `print(','.join(map(str, l[:20])))\nprint(sum(d[:784*10]))\nprint(d[784*7+300])`;
    const out = new Deno.Command(PYTHON, { args: ["-c", script] }).outputSync();
    const [labels, theirTotal, theirPixel] = new TextDecoder().decode(out.stdout).trim().split("\n");
    assertEquals([...splits.test.labels.subarray(0, 20)].join(","), labels);
    let ours = 0;
    for (let i = 0; i < 10; i++) for (let p = 0; p < 1024; p++) ours += splits.test.images[i * 3072 + p];
    assertEquals(String(ours), theirTotal);
    assertEquals(String(splits.test.images[7 * 3072 + (Math.floor(300 / 28) + 2) * 32 + (300 % 28) + 2]), theirPixel);
  },
);
