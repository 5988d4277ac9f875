/**
 * The module graph, read from `deno info --json`: no import circle among the project's own
 * modules; data flows one way (script -> public API -> library -> ops -> tensor -> device -> ffi);
 * and a CPU-only tensor import does not load the CUDA module graph.
 *
 * @module
 */

import assert from "node:assert/strict";
import { testWith } from "./helpers.ts";

const ROOT = new URL("../", import.meta.url);

/** What programs start from: the public API and every script. */
const ENTRIES = ["mod.ts", "scripts/*.ts"];

/** The entry for tensors without the rest of the library; it must stay CPU-only. */
const CPU_ENTRY = "nn/creation.ts";

/** The CUDA device and its native libraries (driver, cuDNN, cuBLAS, NVRTC). */
const CUDA_MODULES = /^nn\/cuda\/|^ffi\/(.*\/)?(cu|nvrtc)/;

type Layer = "ffi" | "device" | "tensor" | "ops" | "library" | "api" | "script";

/** Layers from the bottom up: a module may import only modules of its own layer or below. */
const LAYER_ORDER: readonly Layer[] = ["ffi", "device", "tensor", "ops", "library", "api", "script"];

/** The first pattern a path matches names its layer. */
const LAYERS: readonly [RegExp, Layer][] = [
  [/^ffi\//, "ffi"],
  [/^nn\/(cpu|cuda|device)\/|^nn\/device(_registry)?\.ts$/, "device"],
  [/^nn\/(storage|memory|scope|tensor|autograd|random)\.ts$/, "tensor"],
  [/^nn\/ops\//, "ops"],
  [/^nn\//, "library"],
  [/^mod\.ts$/, "api"],
  [/^scripts\//, "script"],
];

/** The project's modules (paths relative to the repository) and what each imports. */
type Graph = Map<string, Set<string>>;

interface DenoInfo {
  modules: {
    specifier: string;
    error?: string;
    dependencies?: { specifier: string; code?: { specifier?: string }; type?: { specifier?: string } }[];
  }[];
}

function layerOf(path: string): Layer {
  const found = LAYERS.find(([pattern]) => pattern.test(path));
  if (found === undefined) throw new Error(`${path} is in no layer; add it to LAYERS in tests/architecture_test.ts`);
  return found[1];
}

function projectPath(specifier: string | undefined): string | null {
  return specifier?.startsWith(ROOT.href) ? specifier.slice(ROOT.href.length) : null;
}

/** The project part of one entry's module graph; type-only imports count as edges too. */
async function moduleGraph(entry: string): Promise<Graph> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno info --json ${entry} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as DenoInfo;
  const graph: Graph = new Map();
  for (const module of info.modules) {
    const from = projectPath(module.specifier);
    if (from === null) continue;
    if (module.error !== undefined) throw new Error(`deno info: ${from}: ${module.error}`);
    const imports = new Set<string>();
    for (const dependency of module.dependencies ?? []) {
      for (const target of [dependency.code?.specifier, dependency.type?.specifier]) {
        const to = projectPath(target);
        if (to !== null) imports.add(to);
      }
    }
    graph.set(from, imports);
  }
  return graph;
}

function entryFiles(): string[] {
  return ENTRIES.flatMap((entry) => {
    if (!entry.endsWith("/*.ts")) return [entry];
    const dir = entry.slice(0, -"/*.ts".length);
    return [...Deno.readDirSync(new URL(`${dir}/`, ROOT))]
      .filter((e) => e.isFile && e.name.endsWith(".ts"))
      .map((e) => `${dir}/${e.name}`)
      .sort();
  });
}

let whole: Promise<Graph> | undefined;

/** The union of the entries' graphs (read once per test run). */
function wholeGraph(): Promise<Graph> {
  whole ??= readWholeGraph();
  return whole;
}

async function readWholeGraph(): Promise<Graph> {
  const whole: Graph = new Map();
  for (const entry of [...entryFiles(), CPU_ENTRY]) {
    for (const [from, imports] of await moduleGraph(entry)) {
      const known = whole.get(from) ?? new Set<string>();
      for (const to of imports) known.add(to);
      whole.set(from, known);
    }
  }
  return whole;
}

/** Strongly connected components with more than one module, or a module importing itself. */
function circles(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.has(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** A shortest import path from `start` back to itself inside `members`. */
function circlePath(graph: Graph, members: readonly string[], start: string): string[] {
  const inside = new Set(members);
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = previous.get(u)!) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

/** The shortest circle through each member of a component, without repeats, shortest first. */
function describeCircles(graph: Graph, members: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[][] = [];
  for (const start of members) {
    const path = circlePath(graph, members, start);
    const key = [...new Set(path)].sort().join();
    if (!seen.has(key)) {
      seen.add(key);
      out.push(path);
    }
  }
  return out.sort((a, b) => a.length - b.length).map((path) => path.join(" -> "));
}

function layerViolations(graph: Graph): string[] {
  const out: string[] = [];
  for (const [from, imports] of graph) {
    const fromLayer = layerOf(from);
    for (const to of imports) {
      const toLayer = layerOf(to);
      if (LAYER_ORDER.indexOf(toLayer) > LAYER_ORDER.indexOf(fromLayer)) {
        out.push(`${from} (${fromLayer}) imports ${to} (${toLayer})`);
      }
    }
  }
  return out.sort();
}

testWith("the project's modules import each other without a circle", ["run", "read"], async () => {
  const graph = await wholeGraph();
  const found = circles(graph);
  console.log(`${graph.size} modules checked; import circles: ${found.length === 0 ? "none" : ""}`);
  const described = found.map((members) => `${members.length} modules in a circle: ${members.join(", ")}`);
  for (const [k, members] of found.entries()) {
    console.log(`  ${described[k]}`);
    for (const line of describeCircles(graph, members)) console.log(`    ${line}`);
  }
  assert.deepEqual(described, [], "import circles");
});

testWith(
  "imports go one way: script -> public API -> library -> ops -> tensor -> device -> ffi",
  ["run", "read"],
  async () => {
    const graph = await wholeGraph();
    const byLayer = new Map<Layer, number>();
    for (const path of graph.keys()) byLayer.set(layerOf(path), (byLayer.get(layerOf(path)) ?? 0) + 1);
    console.log(LAYER_ORDER.toReversed().map((layer) => `${layer} (${byLayer.get(layer) ?? 0})`).join(" -> "));
    assert.deepEqual(layerViolations(graph), [], "imports from a lower layer into a higher one");
  },
);

testWith(`a CPU-only import of ${CPU_ENTRY} loads no CUDA module`, ["run", "read"], async () => {
  const loaded = [...(await moduleGraph(CPU_ENTRY)).keys()];
  console.log(`${CPU_ENTRY} loads ${loaded.length} project modules`);
  assert.deepEqual(loaded.filter((path) => CUDA_MODULES.test(path)).sort(), [], `CUDA modules under ${CPU_ENTRY}`);
  assert.ok(loaded.includes("nn/tensor_methods.ts"), `${CPU_ENTRY} connects the Tensor methods to the ops`);
});

testWith('mod.ts registers the CUDA device, so "cuda" and "auto" reach the GPU', ["run", "read"], async () => {
  const loaded = [...(await moduleGraph("mod.ts")).keys()];
  assert.ok(loaded.includes("nn/cuda/register.ts"), "mod.ts imports nn/cuda/register.ts");
});
