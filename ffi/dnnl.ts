/**
 * oneDNN 2.x (libdnnl.so.2) symbols, struct sizes and enums used for CPU convolutions.
 *
 * oneDNN 2.x passes memory and operation descriptors as plain structs, which we hold in byte
 * buffers of the sizes below (oneDNN 3.x replaced them with opaque handles and is not supported).
 * Values are from oneDNN 2.6's headers. {@linkcode ONEDNN} tells the discovery engine (load.ts)
 * where to find the library and rejects a 3.x build.
 *
 * @module
 */

import type { LibrarySpec } from "./load.ts";
import { cpuPlatforms, oneDnnSearch } from "./cpu_places.ts";

/** `sizeof(dnnl_memory_desc_t)` in oneDNN 2.x. */
export const DNNL_MEMORY_DESC_BYTES = 696;
/** `sizeof(dnnl_convolution_desc_t)` in oneDNN 2.x. */
export const DNNL_CONVOLUTION_DESC_BYTES = 5976;
/** `sizeof(dnnl_batch_normalization_desc_t)` in oneDNN 2.x. */
export const DNNL_BATCH_NORMALIZATION_DESC_BYTES = 3496;
/** `sizeof(dnnl_binary_desc_t)` in oneDNN 2.x. */
export const DNNL_BINARY_DESC_BYTES = 2096;
/** `sizeof(dnnl_pooling_desc_t)` in oneDNN 2.x. */
export const DNNL_POOLING_DESC_BYTES = 3192;
/** `sizeof(dnnl_exec_arg_t)`: `{ int arg; dnnl_memory_t memory; }`. */
export const DNNL_EXEC_ARG_BYTES = 16;
/** Length of `dnnl_dims_t` (int64_t[DNNL_MAX_NDIMS]). */
export const DNNL_MAX_NDIMS = 12;

/** `dnnl_status_t` success. */
export const DNNL_SUCCESS = 0;
/** `dnnl_engine_kind_t` CPU. */
export const DNNL_CPU = 1;
/** `dnnl_stream_default_flags`. */
export const DNNL_STREAM_DEFAULT_FLAGS = 1;
/** `dnnl_data_type_t` f32. */
export const DNNL_F32 = 3;
/** `dnnl_format_tag_t`: let the primitive choose. */
export const DNNL_FORMAT_ANY = 1;
/** `dnnl_format_tag_t`: plain 1-D. */
export const DNNL_A = 2;
/** `dnnl_format_tag_t`: plain 4-D (NCHW, OIHW). */
export const DNNL_ABCD = 5;
/** `dnnl_format_tag_t`: plain 5-D (GOIHW). */
export const DNNL_ABCDE = 7;
/** `dnnl_prop_kind_t`. */
export const DNNL_FORWARD_TRAINING = 64;
/** `dnnl_prop_kind_t`. */
export const DNNL_FORWARD_INFERENCE = 96;
/** `dnnl_prop_kind_t`: backward for data and weights (scale and shift). */
export const DNNL_BACKWARD = 128;
/** `dnnl_normalization_flags_t`: normalise with the given mean and variance. */
export const DNNL_USE_GLOBAL_STATS = 0x1;
/** `dnnl_normalization_flags_t`: a separate scale tensor (oneDNN 2.3+). */
export const DNNL_USE_SCALE = 0x8;
/** `dnnl_normalization_flags_t`: a separate shift tensor (oneDNN 2.3+). */
export const DNNL_USE_SHIFT = 0x10;
/** `dnnl_alg_kind_t`: direct convolution (what PyTorch uses; no Winograd). */
export const DNNL_CONVOLUTION_DIRECT = 1;

/** `dnnl_alg_kind_t` of the element-wise, pooling and binary primitives. */
export const DNNL_ALG = {
  eltwiseSquare: 79,
  eltwiseSqrt: 111,
  eltwiseLinear: 127,
  poolingMax: 511,
  binaryAdd: 131056,
  binaryMul: 131057,
  binaryDiv: 131060,
} as const;

/** `DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1`: the tensor of binary post-op `index`. */
export function dnnlPostOpSrc1(index: number): number {
  return 16384 * (index + 1) | 2;
}

/** `DNNL_ARG_*` execution argument ids. */
export const DNNL_ARG = {
  src: 1,
  dst: 17,
  weights: 33,
  diffSrc: 129,
  diffDst: 145,
  diffWeights: 161,
  src1: 2,
  mean: 49,
  variance: 50,
  scale: 51,
  shift: 52,
  diffScale: 255,
  diffShift: 256,
  from: 1,
  to: 17,
} as const;

/** `dnnl_query_t` memory-descriptor queries. */
export const DNNL_QUERY = {
  srcMd: 129,
  diffSrcMd: 130,
  weightsMd: 131,
  diffWeightsMd: 132,
  dstMd: 133,
  diffDstMd: 134,
  implInfoStr: 8,
} as const;

const P = "pointer";
const B = "buffer";
const I = "i32";

/** The oneDNN functions we call. Descriptors are passed as pointers to byte buffers. */
export const DNNL_SYMBOLS = {
  /** `const dnnl_version_t *dnnl_version(void)` */
  dnnl_version: { parameters: [], result: P },
  /** `dnnl_engine_create(dnnl_engine_t *engine, dnnl_engine_kind_t kind, size_t index)` */
  dnnl_engine_create: { parameters: [B, I, "usize"], result: I },
  /** `dnnl_stream_create(dnnl_stream_t *stream, dnnl_engine_t engine, unsigned flags)` */
  dnnl_stream_create: { parameters: [B, P, "u32"], result: I },
  /** `dnnl_stream_wait(dnnl_stream_t stream)` */
  dnnl_stream_wait: { parameters: [P], result: I },
  /** `dnnl_memory_desc_init_by_tag(md *, int ndims, const dnnl_dims_t dims, data_type, tag)` */
  dnnl_memory_desc_init_by_tag: { parameters: [P, I, B, I, I], result: I },
  /** `int dnnl_memory_desc_equal(const md *a, const md *b)` */
  dnnl_memory_desc_equal: { parameters: [P, P], result: I },
  /** `size_t dnnl_memory_desc_get_size(const md *)` */
  dnnl_memory_desc_get_size: { parameters: [P], result: "usize" },
  /** `dnnl_dilated_convolution_forward_desc_init(desc *, prop, alg, src, weights, bias, dst, strides, dilates, pad_l, pad_r)` */
  dnnl_dilated_convolution_forward_desc_init: { parameters: [P, I, I, P, P, P, P, B, B, B, B], result: I },
  /** `dnnl_dilated_convolution_backward_data_desc_init(desc *, alg, diff_src, weights, diff_dst, strides, dilates, pad_l, pad_r)` */
  dnnl_dilated_convolution_backward_data_desc_init: { parameters: [P, I, P, P, P, B, B, B, B], result: I },
  /** `dnnl_dilated_convolution_backward_weights_desc_init(desc *, alg, src, diff_weights, diff_bias, diff_dst, strides, dilates, pad_l, pad_r)` */
  dnnl_dilated_convolution_backward_weights_desc_init: {
    parameters: [P, I, P, P, P, P, B, B, B, B],
    result: I,
  },
  /** `dnnl_batch_normalization_forward_desc_init(desc *, prop, const md *data, float epsilon, unsigned flags)` */
  dnnl_batch_normalization_forward_desc_init: { parameters: [P, I, P, "f32", "u32"], result: I },
  /** `dnnl_batch_normalization_backward_desc_init(desc *, prop, const md *diff_data, const md *data, float epsilon, unsigned flags)` */
  dnnl_batch_normalization_backward_desc_init: { parameters: [P, I, P, P, "f32", "u32"], result: I },
  /** `dnnl_eltwise_forward_desc_init(desc *, prop, alg, const md *data, float alpha, float beta)` */
  dnnl_eltwise_forward_desc_init: { parameters: [P, I, I, P, "f32", "f32"], result: I },
  /** `dnnl_pooling_forward_desc_init(desc *, prop, alg, const md *src, const md *dst, strides, kernel, pad_l, pad_r)` */
  dnnl_pooling_forward_desc_init: { parameters: [P, I, I, P, P, B, B, B, B], result: I },
  /** `dnnl_binary_desc_init(desc *, alg, const md *src0, const md *src1, const md *dst)` */
  dnnl_binary_desc_init: { parameters: [P, I, P, P, P], result: I },
  /** `dnnl_primitive_attr_create(dnnl_primitive_attr_t *attr)` */
  dnnl_primitive_attr_create: { parameters: [B], result: I },
  /** `dnnl_primitive_attr_set_post_ops(attr, const_dnnl_post_ops_t)` */
  dnnl_primitive_attr_set_post_ops: { parameters: [P, P], result: I },
  /** `dnnl_post_ops_create(dnnl_post_ops_t *post_ops)` */
  dnnl_post_ops_create: { parameters: [B], result: I },
  /** `dnnl_post_ops_append_sum(post_ops, float scale)`: dst = result + scale * dst */
  dnnl_post_ops_append_sum: { parameters: [P, "f32"], result: I },
  /** `dnnl_post_ops_append_eltwise(post_ops, float scale, alg, float alpha, float beta)` */
  dnnl_post_ops_append_eltwise: { parameters: [P, "f32", I, "f32", "f32"], result: I },
  /** `dnnl_post_ops_append_binary(post_ops, alg, const md *src1)` */
  dnnl_post_ops_append_binary: { parameters: [P, I, P], result: I },
  /** `dnnl_primitive_desc_create(pd *, const_dnnl_op_desc_t, attr, engine, hint_forward_pd)` */
  dnnl_primitive_desc_create: { parameters: [B, P, P, P, P], result: I },
  /** `dnnl_reorder_primitive_desc_create(pd *, src_md, src_engine, dst_md, dst_engine, attr)` */
  dnnl_reorder_primitive_desc_create: { parameters: [B, P, P, P, P, P], result: I },
  /** `dnnl_primitive_desc_query(pd, what, index, void *result)` */
  dnnl_primitive_desc_query: { parameters: [P, I, I, B], result: I },
  /** `const dnnl_memory_desc_t *dnnl_primitive_desc_query_md(pd, what, index)` */
  dnnl_primitive_desc_query_md: { parameters: [P, I, I], result: P },
  /** `dnnl_primitive_create(dnnl_primitive_t *, pd)` */
  dnnl_primitive_create: { parameters: [B, P], result: I },
  /** `dnnl_primitive_execute(primitive, stream, int nargs, const dnnl_exec_arg_t *args)` */
  dnnl_primitive_execute: { parameters: [P, P, I, B], result: I },
  /** `dnnl_memory_create(dnnl_memory_t *, const md *, engine, void *handle)` */
  dnnl_memory_create: { parameters: [B, P, P, P], result: I },
  /** `dnnl_memory_set_data_handle(dnnl_memory_t, void *handle)` */
  dnnl_memory_set_data_handle: { parameters: [P, P], result: I },
} as const;

/**
 * The version of a loaded oneDNN.
 *
 * @param lib The bound symbols.
 * @returns `[major, minor, patch]`.
 * @example
 * ```ts
 * import { dnnlVersion, ONEDNN } from "./dnnl.ts";
 * import { openLibrary } from "./load.ts";
 * console.log(dnnlVersion(openLibrary(ONEDNN).library.symbols).join(".")); // "2.6.3"
 * ```
 */
export function dnnlVersion(lib: { dnnl_version(): Deno.PointerValue }): [number, number, number] {
  const version = new Deno.UnsafePointerView(lib.dnnl_version()!);
  return [version.getInt32(0), version.getInt32(4), version.getInt32(8)];
}

/** The symbol that every oneDNN version has: read first, so that 3.x is turned down by its version. */
const VERSION_SYMBOL = { dnnl_version: DNNL_SYMBOLS.dnnl_version } as const;

/**
 * Why a oneDNN build does not fit our 2.x bindings, or `undefined` when it does.
 *
 * @param version `[major, minor, patch]` from {@linkcode dnnlVersion}.
 * @returns E.g. `"oneDNN 3.4.1; only 2.x is supported"`.
 * @example
 * ```ts
 * import { oneDnnMismatch } from "./dnnl.ts";
 * console.log(oneDnnMismatch([3, 4, 1])); // "oneDNN 3.4.1; only 2.x is supported"
 * ```
 */
export function oneDnnMismatch(version: readonly number[]): string | undefined {
  return version[0] === 2 ? undefined : `oneDNN ${version.join(".")}; only 2.x is supported`;
}

/**
 * oneDNN 2.x: `EPSANET_ONEDNN` (a file, folders, or `none`), then the loader path and standard
 * folders (per OS, see cpu_places.ts). A 3.x build is opened with `dnnl_version` alone and turned
 * down by its version, since it lacks the 2.x functions we bind.
 */
export const ONEDNN: LibrarySpec<typeof DNNL_SYMBOLS> = {
  name: "oneDNN 2.x",
  envVar: "EPSANET_ONEDNN",
  override: "only",
  get platforms() {
    return cpuPlatforms(oneDnnSearch);
  },
  symbols: DNNL_SYMBOLS,
  probe: {
    symbols: VERSION_SYMBOL,
    check: (library) =>
      oneDnnMismatch(dnnlVersion(library.symbols as unknown as { dnnl_version(): Deno.PointerValue })),
  },
};
