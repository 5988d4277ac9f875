/**
 * Writes small PyTorch checkpoints without Python, laid out byte for byte as `torch.save` lays out
 * a state dict (protocol-2 pickle, `_rebuild_tensor_v2`, storages as persistent ids), for the tests
 * and the fuzzer that must run where torch is absent. tests/pth_test.ts checks the real thing.
 *
 * @module
 */

import { crc32, deflateRawSync } from "node:zlib";

/** One tensor of a fixture: contiguous, float32 or int64. */
export interface FixtureTensor {
  key: string;
  shape: number[];
  values: number[];
  integer?: boolean;
}

const encoder = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function u16(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, value >> 8]);
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

/** Protocol-2 opcodes for the few values a state dict pickle holds. */
const op = {
  text: (s: string) => concat([new Uint8Array([0x58]), u32(encoder.encode(s).length), encoder.encode(s)]),
  int: (n: number) => concat([new Uint8Array([0x4a]), u32(n)]),
  global: (module: string, name: string) => encoder.encode(`c${module}\n${name}\n`),
  tuple: (items: Uint8Array[]) => concat([new Uint8Array([0x28]), ...items, new Uint8Array([0x74])]),
  orderedDict: () => concat([op.global("collections", "OrderedDict"), new Uint8Array([0x29, 0x52])]),
};

function storageBytes(t: FixtureTensor): Uint8Array {
  const out = new Uint8Array(t.values.length * (t.integer ? 8 : 4));
  const view = new DataView(out.buffer);
  t.values.forEach((v, i) => t.integer ? view.setBigInt64(8 * i, BigInt(v), true) : view.setFloat32(4 * i, v, true));
  return out;
}

/** The object pickle: OrderedDict of `_rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())`. */
export function statePickle(tensors: FixtureTensor[], legacy: boolean): Uint8Array {
  const items = tensors.map((t, i) => {
    const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((n, s) => n * s, 1));
    const pid = op.tuple([
      op.text("storage"),
      op.global("torch", t.integer ? "LongStorage" : "FloatStorage"),
      op.text(String(i)),
      op.text("cpu"),
      op.int(t.values.length),
      ...(legacy ? [new Uint8Array([0x4e])] : []),
    ]);
    const args = op.tuple([
      pid,
      new Uint8Array([0x51]), // BINPERSID
      op.int(0),
      op.tuple(t.shape.map(op.int)),
      op.tuple(strides.map(op.int)),
      new Uint8Array([0x89]), // False
      op.orderedDict(),
    ]);
    return concat([op.text(t.key), op.global("torch._utils", "_rebuild_tensor_v2"), args, new Uint8Array([0x52])]);
  });
  return concat([
    new Uint8Array([0x80, 2]),
    op.orderedDict(),
    new Uint8Array([0x28]),
    ...items,
    new Uint8Array([0x75, 0x2e]),
  ]);
}

/**
 * A zip with a central directory: stored entries, as torch.save's writer makes, or deflated ones,
 * as a user's zip tool might re-pack them.
 */
export function storedZip(files: [string, Uint8Array][], options: { deflate?: boolean } = {}): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameBytes = encoder.encode(name);
    const crc = crc32(data) >>> 0;
    const packed = options.deflate ? new Uint8Array(deflateRawSync(data)) : data;
    const common = [
      u16(0),
      u16(options.deflate ? 8 : 0),
      u16(0),
      u16(0),
      u32(crc),
      u32(packed.length),
      u32(data.length),
      u16(nameBytes.length),
    ];
    const local = concat([u32(0x04034b50), u16(20), ...common, u16(0), nameBytes, packed]);
    centrals.push(concat([
      u32(0x02014b50),
      u16(20),
      u16(20),
      ...common,
      u16(0),
      u16(0),
      u16(0),
      u16(0),
      u32(0),
      u32(offset),
      nameBytes,
    ]));
    locals.push(local);
    offset += local.length;
  }
  const directory = concat(centrals);
  const end = concat([
    u32(0x06054b50),
    u16(0),
    u16(0),
    u16(files.length),
    u16(files.length),
    u32(directory.length),
    u32(offset),
    u16(0),
  ]);
  return concat([...locals, directory, end]);
}

/**
 * A checkpoint in torch.save's zip format.
 *
 * @param tensors The state dict.
 * @param folder The archive's folder name.
 * @param deflate Deflate the entries (torch.save stores them).
 */
export function zipCheckpoint(tensors: FixtureTensor[], folder = "archive", deflate = false): Uint8Array {
  return zipWithPickle(tensors, statePickle(tensors, false), folder, deflate);
}

/**
 * A zip checkpoint whose data.pkl is `pickle` (for fuzzing the pickle behind a valid CRC).
 *
 * @param tensors The storages.
 * @param pickle The data.pkl bytes.
 * @param folder The archive's folder name.
 * @param deflate Deflate the entries.
 */
export function zipWithPickle(
  tensors: FixtureTensor[],
  pickle: Uint8Array,
  folder = "archive",
  deflate = false,
): Uint8Array {
  return storedZip([
    [`${folder}/data.pkl`, pickle],
    ...tensors.map((t, i): [string, Uint8Array] => [`${folder}/data/${i}`, storageBytes(t)]),
    [`${folder}/version`, encoder.encode("3\n")],
  ], { deflate });
}

/** The legacy format's first three pickles: magic number, protocol version 1001, system info. */
export const LEGACY_PREAMBLE: Uint8Array = concat([
  new Uint8Array([0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]),
  new Uint8Array([0x80, 2, 0x4d, 0xe9, 0x03, 0x2e]),
  new Uint8Array([0x80, 2, 0x7d, 0x2e]),
]);

/**
 * A checkpoint in torch.save's legacy format.
 *
 * @param tensors The state dict.
 */
export function legacyCheckpoint(tensors: FixtureTensor[]): Uint8Array {
  const keys = concat([
    new Uint8Array([0x80, 2, 0x5d, 0x28]),
    ...tensors.map((_, i) => op.text(String(i))),
    new Uint8Array([0x65, 0x2e]),
  ]);
  const storages = tensors.map((t) => {
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(t.values.length), true);
    return concat([count, storageBytes(t)]);
  });
  return concat([LEGACY_PREAMBLE, statePickle(tensors, true), keys, ...storages]);
}

/** A small state dict: a conv weight, a bias, and an int64 counter. */
export const SMALL_STATE: FixtureTensor[] = [
  { key: "conv.weight", shape: [2, 1, 2, 2], values: [0.5, -1, 2, 3.25, -0.125, 4, 5, -6] },
  { key: "conv.bias", shape: [2], values: [0.1, -0.2] },
  { key: "bn.num_batches_tracked", shape: [], values: [42], integer: true },
];
