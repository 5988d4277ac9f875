/**
 * Test helpers, one import for every test file; each concern lives in its own module under
 * tests/helpers/: assertions (assert.ts), finite-difference gradient checks (gradcheck.ts),
 * permission-aware tests (permissions.ts), temporary folders and safetensors headers (files.ts),
 * child processes (process.ts), the PyTorch interpreter (python.ts), random arrays (random.ts).
 *
 * @module
 */

export { assertClose, assertRejects, assertThrows, relativeError, type Tolerance } from "./helpers/assert.ts";
export { directionalGradcheck, gradcheck, leaf64 } from "./helpers/gradcheck.ts";
export { granted, type Permission, testWith } from "./helpers/permissions.ts";
export { lazyTempDir, readSafetensorsHeader, type SafetensorsHeader, withTempDir } from "./helpers/files.ts";
export { type CommandOutput, errorLines, runDeno } from "./helpers/process.ts";
export { PYTHON, pythonLacks } from "./helpers/python.ts";
export { randomFloat32 } from "./helpers/random.ts";
