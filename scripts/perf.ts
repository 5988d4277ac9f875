/**
 * `deno task perf`: our speed beside PyTorch's, measured in one run on this machine, written into
 * PERFORMANCE.md (between the `<!-- perf:start -->` and `<!-- perf:end -->` markers).
 *
 * For every configuration it alternates our bench (`scripts/bench.ts --json`) and the project's
 * PyTorch reference (`scripts/torch_bench.py`: same model, input, batch, Adam, warm-up) under every
 * Python given, for `--rounds` rounds, each in a fresh process, and keeps each side's best round,
 * so that machine noise hits all alike.
 *
 * ```sh
 * deno task perf                       # the four standard configurations, then PERFORMANCE.md
 * deno task perf --configs epsanet50:32:32 --rounds 1 --no-write
 * deno task perf --python /usr/bin/python3,/opt/torch2/bin/python   # PyTorch 1.13 and 2.x side by side
 * ```
 *
 * @module
 */

import { parseFlags, runMain } from "./lib/args.ts";

/** A model, square input size and batch size. */
export interface PerfConfig {
  /** Network name. */
  model: string;
  /** Input size. */
  imageSize: number;
  /** Batch size. */
  batch: number;
}

/** The numbers both sides report. */
export interface Speed {
  /** Training images per second. */
  train_img_s: number;
  /** Inference images per second. */
  infer_img_s: number;
  /** Milliseconds per training step. */
  train_step_ms: number;
  /** Milliseconds per inference step. */
  infer_step_ms: number;
  /** Whatever else the side reports (`torch`: PyTorch's version; `device_info`: ours). */
  [key: string]: unknown;
}

/** One configuration measured on both sides. */
export interface PerfRow extends PerfConfig {
  /** Our best round. */
  ours: Speed;
  /** PyTorch's best round, one per Python measured, in the order given. */
  torch: Speed[];
}

/** What the run measured with, for the line above the table. */
export interface PerfContext {
  /** CPU and cores. */
  machine: string;
  /** YYYY-MM-DD. */
  date: string;
  /** The command that reproduces the table. */
  command: string;
  /** Deno, our back ends, and each PyTorch. */
  versions: string;
}

const ROOT = new URL("../", import.meta.url);
const TORCH_BENCH = new URL("scripts/torch_bench.py", ROOT).pathname;
const DEFAULT_CONFIGS = "epsanet50:32:32,resnet50:32:32,epsanet50:224:8,resnet50:224:8";
const DEFAULT_PYTHON = "/usr/bin/python3";

const HELP = `Usage: deno task perf [options]

Measures training and inference speed of ours and PyTorch's side by side (alternating, fresh
processes) and writes the table into PERFORMANCE.md. PyTorch runs scripts/torch_bench.py.

Options:
  --configs LIST   model:imageSize:batch,... (default ${DEFAULT_CONFIGS})
  --rounds N       rounds per side per configuration; the best is kept (default 2)
  --steps N        timed steps per round (default 5)
  --warmup N       warm-up steps per round (default 2)
  --threads N      PyTorch threads (default: this machine's cores)
  --python LIST    Pythons with torch and torchvision, comma-separated; each PyTorch gets its own
                   rows (default ${DEFAULT_PYTHON})
  --no-write       print only; leave PERFORMANCE.md alone
  --help           this text`;

async function runJson(command: string, args: string[]): Promise<Speed> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const line = stdout.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  if (!output.success || !line) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${command} ${args.join(" ")} failed: ${stderr}`);
  }
  return JSON.parse(line);
}

function best(a: Speed | undefined, b: Speed): Speed {
  if (!a) return b;
  return {
    ...b,
    train_img_s: Math.max(a.train_img_s, b.train_img_s),
    infer_img_s: Math.max(a.infer_img_s, b.infer_img_s),
    train_step_ms: Math.min(a.train_step_ms, b.train_step_ms),
    infer_step_ms: Math.min(a.infer_step_ms, b.infer_step_ms),
  };
}

function cpuModel(): string {
  try {
    return Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

/**
 * The Markdown section for PERFORMANCE.md: one table row per configuration and PyTorch.
 *
 * @param rows Measurements.
 * @param context Machine, versions and command.
 * @returns Markdown.
 * @example
 * ```ts
 * import { formatPerf } from "./perf.ts";
 * console.log(formatPerf([], { machine: "cpu", date: "today", command: "deno task perf", versions: "" }));
 * ```
 */
export function formatPerf(rows: PerfRow[], context: PerfContext): string {
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const lines = [
    `Measured ${context.date} on ${context.machine}; ${context.versions}.`,
    `Command: \`${context.command}\` (ImageNet stem, 10 classes, Adam, best of the rounds).`,
    "",
    "| model | input | batch | PyTorch | train img/s (ours) | train img/s (PyTorch) | ratio | inference img/s (ours) | inference img/s (PyTorch) | ratio |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.flatMap((r) =>
      r.torch.map((t) =>
        `| ${r.model} | ${r.imageSize}x${r.imageSize} | ${r.batch} | ${String(t.torch ?? "?")} | ${
          r.ours.train_img_s.toFixed(1)
        } | ${t.train_img_s.toFixed(1)} | ${ratio(r.ours.train_img_s, t.train_img_s)} | ${
          r.ours.infer_img_s.toFixed(1)
        } | ${t.infer_img_s.toFixed(1)} | ${ratio(r.ours.infer_img_s, t.infer_img_s)} |`
      )
    ),
  ];
  return lines.join("\n");
}

/** The validated command line. */
interface PerfOptions {
  configs: PerfConfig[];
  rounds: number;
  steps: number;
  warmup: number;
  threads: number;
  pythons: string[];
  write: boolean;
}

/** Parses the flags; a string is the one-line reason they are wrong. */
function parsePerfArgs(argv: string[]): PerfOptions | "help" | string {
  let values;
  try {
    ({ values } = parseFlags(argv, {
      configs: { type: "string", default: DEFAULT_CONFIGS },
      rounds: { type: "string", default: "2" },
      steps: { type: "string", default: "5" },
      warmup: { type: "string", default: "2" },
      threads: { type: "string", default: String(navigator.hardwareConcurrency) },
      python: { type: "string", default: DEFAULT_PYTHON },
      "no-write": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return "help";
  for (const name of ["rounds", "steps", "warmup", "threads"] as const) {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < (name === "warmup" ? 0 : 1)) {
      return `--${name} must be a ${name === "warmup" ? "non-negative" : "positive"} integer, got "${values[name]}"`;
    }
  }
  const configs: PerfConfig[] = [];
  for (const item of values.configs.split(",")) {
    const [model, size, batch] = item.split(":");
    if (!model || !(Number(size) > 0) || !(Number(batch) > 0)) {
      return `--configs entry "${item}" is not model:imageSize:batch`;
    }
    configs.push({ model, imageSize: Number(size), batch: Number(batch) });
  }
  const pythons = values.python.split(",").filter((p) => p !== "");
  for (const python of pythons) {
    const probe = new Deno.Command(python, {
      args: ["-c", "import torch, torchvision"],
      stdout: "null",
      stderr: "null",
    });
    let ok = false;
    try {
      ok = probe.outputSync().success;
    } catch {
      // not an executable: reported below
    }
    if (!ok) return `${python} cannot import torch and torchvision; pass --python with a Python that can`;
  }
  if (pythons.length === 0) return "--python needs at least one Python";
  return {
    configs,
    rounds: Number(values.rounds),
    steps: Number(values.steps),
    warmup: Number(values.warmup),
    threads: Number(values.threads),
    pythons,
    write: !values["no-write"],
  };
}

/** bench.ts calls the batch size --batch-size (torch_bench.py keeps --batch). */
const ourArgs = (args: string[]): string[] => args.map((a) => a === "--batch" ? "--batch-size" : a);

/** Alternates ours and each PyTorch for `options.rounds` rounds of `config`; keeps the best of each. */
async function measure(config: PerfConfig, options: PerfOptions): Promise<PerfRow> {
  const common = ["--model", config.model, "--image-size", String(config.imageSize), "--batch", String(config.batch)];
  const counts = ["--steps", String(options.steps), "--warmup", String(options.warmup), "--device", "cpu"];
  const bench = new URL("scripts/bench.ts", ROOT).pathname;
  let ours: Speed | undefined;
  const torch: (Speed | undefined)[] = options.pythons.map(() => undefined);
  for (let round = 0; round < options.rounds; round++) {
    ours = best(ours, await runJson(Deno.execPath(), ["run", "-A", bench, ...ourArgs(common), ...counts, "--json"]));
    for (const [i, python] of options.pythons.entries()) {
      const args = [TORCH_BENCH, ...common, ...counts, "--threads", String(options.threads)];
      torch[i] = best(torch[i], await runJson(python, args));
    }
    const theirs = torch.map((t) => `${t!.train_img_s} (PyTorch ${t!.torch})`).join(", ");
    const theirsInfer = torch.map((t) => `${t!.infer_img_s}`).join(", ");
    console.log(
      `${config.model} ${config.imageSize}x${config.imageSize} batch ${config.batch} round ${round + 1}: ` +
        `train ${ours.train_img_s} vs ${theirs} img/s, inference ${ours.infer_img_s} vs ${theirsInfer} img/s`,
    );
  }
  return { ...config, ours: ours!, torch: torch.map((t) => t!) };
}

/** Replaces the section between PERFORMANCE.md's markers, atomically, formatted as `deno fmt` wants. */
async function writePerformanceFile(section: string): Promise<boolean> {
  const file = new URL("PERFORMANCE.md", ROOT);
  const text = await Deno.readTextFile(file);
  const start = text.indexOf("<!-- perf:start -->");
  const end = text.indexOf("<!-- perf:end -->");
  if (start < 0 || end < start) {
    console.error("error: PERFORMANCE.md lacks the <!-- perf:start --> / <!-- perf:end --> markers; restore them");
    return false;
  }
  const updated = `${text.slice(0, start)}<!-- perf:start -->\n${section}\n${text.slice(end)}`;
  const temp = `${file.pathname}.tmp`;
  await Deno.writeTextFile(temp, updated);
  await Deno.rename(temp, file);
  // Keep the file as `deno fmt` wants it (it aligns table columns), so `deno task check` stays clean.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", file.pathname] }).output();
  return true;
}

async function main(argv: string[]): Promise<number> {
  const options = parsePerfArgs(argv);
  if (options === "help") {
    console.log(HELP);
    return 0;
  }
  if (typeof options === "string") {
    console.error(`error: ${options}`);
    return 2;
  }
  const rows: PerfRow[] = [];
  for (const config of options.configs) rows.push(await measure(config, options));
  const torchVersions = (rows[0]?.torch ?? []).map((t, i) => `${String(t.torch)} (${options.pythons[i]})`);
  const section = formatPerf(rows, {
    machine: `${cpuModel()}, ${navigator.hardwareConcurrency} cores`,
    date: new Date().toISOString().slice(0, 10),
    command: `deno task perf --rounds ${options.rounds} --steps ${options.steps} --warmup ${options.warmup}${
      options.pythons.join(",") === DEFAULT_PYTHON ? "" : ` --python ${options.pythons.join(",")}`
    }`,
    versions: `Deno ${Deno.version.deno}; ours: ${String(rows[0]?.ours.device_info ?? "")}; PyTorch ${
      torchVersions.join(", ")
    } with ${options.threads} threads`,
  });
  console.log(`\n${section}`);
  if (options.write) {
    if (!(await writePerformanceFile(section))) return 1;
    console.log("PERFORMANCE.md updated");
  }
  return 0;
}

if (import.meta.main) await runMain(main);
