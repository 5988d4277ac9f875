import assert from "node:assert/strict";
import { cpu } from "../nn/cpu/device.ts";
import { defaultDevice, registerDevice, resolveDevice, setDefaultDevice } from "../nn/device_registry.ts";
import { assertThrows } from "./helpers.ts";

Deno.test("resolveDevice() knows cpu, registered kinds with and without :0, and refuses the rest", () => {
  assert.equal(resolveDevice("cpu"), cpu);
  assert.equal(resolveDevice(cpu), cpu);
  registerDevice("test-host", () => cpu);
  assert.equal(resolveDevice("test-host"), cpu);
  assert.equal(resolveDevice("test-host:0"), cpu);
  assertThrows(
    () => resolveDevice("test-host:1"),
    /Unknown device "test-host:1"; use "cpu", "cuda", "cuda:0" or "auto"/,
  );
  assertThrows(() => resolveDevice("tpu"), /Unknown device "tpu"/);
});

Deno.test("a registered device's own error reaches the caller", () => {
  registerDevice("test-broken", () => {
    throw new Error("Test device unavailable; nothing to fix");
  });
  assertThrows(() => resolveDevice("test-broken"), /^Test device unavailable; nothing to fix$/);
});

Deno.test("setDefaultDevice() takes a spec and defaultDevice() returns it", () => {
  assert.equal(defaultDevice(), cpu);
  assert.equal(setDefaultDevice("cpu"), cpu);
  assert.equal(defaultDevice(), cpu);
});
