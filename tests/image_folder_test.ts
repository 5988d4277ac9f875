/**
 * Image folders against PIL and torchvision: /usr/bin/python3 writes JPEG and PNG files in every
 * mode (RGB, L, RGBA, P, 16-bit L, and a corrupt file) with PIL's own RGB conversion next to them,
 * torchvision's Resize + CenterCrop outputs and RandomResizedCrop boxes; then a short
 * `deno task train --dataset folder` run on the folder.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeImage, type RgbImage } from "../scripts/data/image_decode.ts";
import { loadImageFolder } from "../scripts/data/folder.ts";
import { randomResizedCrop, randomResizedCropBox, resizeCenterCrop } from "../scripts/data/image_transforms.ts";
import { Generator } from "../nn/random.ts";
import { lazyTempDir, PYTHON, pythonLacks, runDeno } from "./helpers.ts";

const lacks = pythonLacks(["PIL", "numpy", "torch", "torchvision"]);
const tempDir = lazyTempDir("image_folder_test_");
let fixture: string | undefined;

/** The folder the Python helper writes, made once. */
function folder(): string {
  if (fixture) return fixture;
  const dir = join(tempDir(), "images");
  const script = new URL("./helpers/image_folder.py", import.meta.url).pathname;
  const result = new Deno.Command(PYTHON, { args: [script, dir] }).outputSync();
  if (!result.success) throw new Error(`image_folder.py failed: ${new TextDecoder().decode(result.stderr)}`);
  return fixture = dir;
}

function testPython(name: string, fn: () => void | Promise<void>): void {
  Deno.test({ name: lacks ? `${name} (skipped: ${lacks})` : name, ignore: lacks !== null, fn });
}

/** CHW pixels to HWC, the layout numpy writes. */
function hwc(image: RgbImage): Uint8Array {
  const plane = image.width * image.height;
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = image.pixels[c * plane + i];
  return out;
}

function differences(a: Uint8Array, b: ArrayLike<number>): { max: number; mean: number } {
  assert.equal(a.length, b.length);
  let max = 0, sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d), sum += d;
  }
  return { max, mean: sum / a.length };
}

testPython("PNG files of every mode decode to exactly PIL's convert('RGB')", async () => {
  for (const name of ["cat/rgb.png", "cat/sub/gray.png", "dog/rgba.png", "dog/palette.png", "dog/gray16.png"]) {
    const path = join(folder(), "train", name);
    const image = await decodeImage(Deno.readFileSync(path));
    const { max } = differences(hwc(image), Deno.readFileSync(path + ".rgb"));
    assert.equal(max, 0, `${name} differs from PIL by up to ${max}`);
  }
});

testPython("JPEG files decode exactly as PIL's libjpeg does", async () => {
  // mozjpeg (libjpeg-turbo) and PIL's libjpeg-turbo share the IDCT and the fancy chroma upsampling
  for (const name of ["train/cat/rgb.jpg", "train/cat/gray.jpg", "val/dog/b.jpg"]) {
    const path = join(folder(), name);
    const image = await decodeImage(Deno.readFileSync(path));
    const { max } = differences(hwc(image), Deno.readFileSync(path + ".rgb"));
    assert.equal(max, 0, `${name} differs from PIL by up to ${max}`);
  }
});

Deno.test("a corrupt JPEG is a one-line error, with libjpeg's message", async () => {
  const bad = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0]);
  await assert.rejects(
    decodeImage(bad),
    (e: Error) => /^corrupt JPEG: .+/.test(e.message) && !e.message.includes("\n"),
  );
  await assert.rejects(decodeImage(new Uint8Array(8)), /not a JPEG or PNG/);
});

testPython("Resize + CenterCrop match torchvision within one level of 255", async () => {
  // PIL resamples with 22-bit fixed-point weights and rounds between its two passes; we use
  // doubles and round between the same passes, so single levels may differ
  const cases = JSON.parse(Deno.readTextFileSync(join(folder(), "resize.json")));
  assert.ok(cases.length >= 12);
  let worst = 0;
  for (const { file, resize, size, hwc: expected } of cases) {
    const out = resizeCenterCrop(await decodeImage(Deno.readFileSync(join(folder(), file))), resize, size);
    assert.equal(out.width, size);
    const { max } = differences(hwc(out), expected);
    assert.ok(max <= 1, `${file} Resize(${resize}) + CenterCrop(${size}) differs by ${max}`);
    worst = Math.max(worst, max);
  }
});

testPython("RandomResizedCrop boxes equal torchvision's get_params on the same draws", () => {
  const cases = JSON.parse(Deno.readTextFileSync(join(folder(), "boxes.json")));
  for (const { height, width, draws, box } of cases) {
    let next = 0;
    const got = randomResizedCropBox(height, width, () => draws[next++]);
    assert.deepEqual([got.top, got.left, got.height, got.width], box, `${height}x${width}`);
  }
});

Deno.test("randomResizedCrop is deterministic for a seed and differs across seeds", () => {
  const pixels = Uint8Array.from({ length: 3 * 40 * 50 }, (_, i) => (i * 37) % 251);
  const image = () => ({ width: 50, height: 40, pixels: pixels.slice() });
  const a = randomResizedCrop(image(), 16, new Generator(3));
  const b = randomResizedCrop(image(), 16, new Generator(3));
  const c = randomResizedCrop(image(), 16, new Generator(4));
  assert.deepEqual(a.pixels, b.pixels);
  assert.notDeepEqual(a.pixels, c.pixels);
});

testPython("loadImageFolder: sorted classes, recursive files, the corrupt file named and skipped", async () => {
  const lines: string[] = [];
  const { train, test } = await loadImageFolder(folder(), { imageSize: 12, log: (line) => lines.push(line) });
  assert.deepEqual(train.classes, ["cat", "dog"]);
  assert.equal(train.count, 7);
  assert.deepEqual([...train.labels], [0, 0, 0, 0, 1, 1, 1]);
  assert.equal(test.count, 2);
  assert.equal(train.height, 14); // stored at 12 * 256 / 224 for RandomResizedCrop; test at 12
  assert.equal(test.height, 12);
  assert.equal(train.images.length, 7 * 3 * 14 * 14);
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0], /skipped 1 file.*train.*broken\.jpg/);
});

Deno.test("loadImageFolder: a folder without train/ is a one-line error", async () => {
  if (lacks) return;
  await assert.rejects(loadImageFolder(tempDir()), /train is not a folder; --data-dir must hold train\//);
});

testPython("deno task train --dataset folder runs a couple of steps", async () => {
  const out = join(tempDir(), "run");
  const { code, stdout, stderr } = await runDeno([
    "run",
    "-A",
    "scripts/train.ts",
    "--dataset=folder",
    `--data-dir=${folder()}`,
    "--batch-size=3",
    "--image-size=16",
    "--epochs=1",
    "--device=cpu",
    `--out=${out}`,
  ]);
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout + stderr, /folder: 7 train \/ 2 test images at 16x16; 2 steps/);
  assert.match(stderr, /broken\.jpg/);
  assert.ok(Deno.statSync(join(out, "config.json")).isFile);
});
