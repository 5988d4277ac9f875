/**
 * Registers the CUDA device under `"cuda"`, so that `resolveDevice("cuda")`, `"cuda:0"` and
 * `"auto"` find the GPU. mod.ts imports this module; programs that import only the tensor modules
 * (nn/creation.ts) stay on the CPU and never load the CUDA module graph.
 *
 * @example
 * ```ts
 * import "./register.ts";
 * import { cudaAvailable } from "../device_registry.ts";
 * console.log(cudaAvailable() ? "GPU" : "CPU only");
 * ```
 *
 * @module
 */

import { registerDevice } from "../device_registry.ts";
import { cudaDevice } from "./device.ts";

registerDevice("cuda", () => cudaDevice());
