/**
 * `deno task perf`: our speed beside PyTorch's, measured in one run on this machine, written into
 * PERFORMANCE.md (between the `<!-- perf:start -->` and `<!-- perf:end -->` markers).
 *
 * For every configuration it alternates our bench (`scripts/bench.ts --json`) and PyTorch's
 * reference script (`torch_reference.py`, same model, input, batch, Adam, warm-up) for `--rounds`
 * rounds, each in a fresh process, and keeps each side's best round, so that machine noise hits both
 * alike.
 *
 * ```sh
 * deno task perf                       # the four standard configurations, then PERFORMANCE.md
 * deno task perf --configs epsanet50:32:32 --rounds 1 --no-write
 * ```
 *
 * @module
 */

import { parseFlags } from "./lib/args.ts";

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
interface Speed {
  train_img_s: number;
  infer_img_s: number;
  train_step_ms: number;
  infer_step_ms: number;
  [key: string]: unknown;
}

/** One configuration measured on both sides. */
export interface PerfRow extends PerfConfig {
  /** Our best round. */
  ours: Speed;
  /** PyTorch's best round. */
  torch: Speed;
}

const ROOT = new URL("../", import.meta.url);
const DEFAULT_CONFIGS = "epsanet50:32:32,resnet50:32:32,epsanet50:224:8,resnet50:224:8";

const HELP = `Usage: deno task perf [options]

Measures training and inference speed of ours and PyTorch's side by side (alternating, fresh
processes) and writes the table into PERFORMANCE.md.

Options:
  --configs LIST       model:imageSize:batch,... (default ${DEFAULT_CONFIGS})
  --rounds N           rounds per side per configuration; the best is kept (default 2)
  --steps N            timed steps per round (default 5)
  --warmup N           warm-up steps per round (default 2)
  --threads N          PyTorch threads (default: this machine's cores)
  --python PATH        Python with torch and torchvision (default /usr/bin/python3)
  --torch-script PATH  PyTorch reference (default ../shared/bench/torch_reference.py)
  --no-write           print only; leave PERFORMANCE.md alone
  --help               this text`;

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
 * The Markdown section for PERFORMANCE.md.
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
export function formatPerf(
  rows: PerfRow[],
  context: { machine: string; date: string; command: string; versions: string },
): string {
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const lines = [
    `Measured ${context.date} on ${context.machine}; ${context.versions}.`,
    `Command: \`${context.command}\` (ImageNet stem, 10 classes, Adam, best of the rounds).`,
    "",
    "| model | input | batch | train img/s (ours) | train img/s (PyTorch) | ratio | inference img/s (ours) | inference img/s (PyTorch) | ratio |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.model} | ${r.imageSize}x${r.imageSize} | ${r.batch} | ${r.ours.train_img_s.toFixed(1)} | ${
        r.torch.train_img_s.toFixed(1)
      } | ${ratio(r.ours.train_img_s, r.torch.train_img_s)} | ${r.ours.infer_img_s.toFixed(1)} | ${
        r.torch.infer_img_s.toFixed(1)
      } | ${ratio(r.ours.infer_img_s, r.torch.infer_img_s)} |`
    ),
  ];
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseFlags(argv, {
      configs: { type: "string", default: DEFAULT_CONFIGS },
      rounds: { type: "string", default: "2" },
      steps: { type: "string", default: "5" },
      warmup: { type: "string", default: "2" },
      threads: { type: "string", default: String(navigator.hardwareConcurrency) },
      python: { type: "string", default: "/usr/bin/python3" },
      "torch-script": { type: "string", default: new URL("../shared/bench/torch_reference.py", ROOT).pathname },
      "no-write": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    }));
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const numbers = ["rounds", "steps", "warmup", "threads"] as const;
  for (const name of numbers) {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < (name === "warmup" ? 0 : 1)) {
      console.error(
        `error: --${name} must be a ${name === "warmup" ? "non-negative" : "positive"} integer, got "${values[name]}"`,
      );
      return 2;
    }
  }
  const configs: PerfConfig[] = [];
  for (const item of values.configs.split(",")) {
    const [model, size, batch] = item.split(":");
    if (!model || !(Number(size) > 0) || !(Number(batch) > 0)) {
      console.error(`error: --configs entry "${item}" is not model:imageSize:batch`);
      return 2;
    }
    configs.push({ model, imageSize: Number(size), batch: Number(batch) });
  }
  try {
    Deno.statSync(values["torch-script"]);
  } catch {
    console.error(`error: PyTorch reference ${values["torch-script"]} not found; pass --torch-script PATH`);
    return 2;
  }
  const rows: PerfRow[] = [];
  for (const c of configs) {
    let ours: Speed | undefined;
    let torch: Speed | undefined;
    const common = ["--model", c.model, "--image-size", String(c.imageSize), "--batch", String(c.batch)];
    const counts = ["--steps", values.steps, "--warmup", values.warmup];
    for (let round = 0; round < Number(values.rounds); round++) {
      ours = best(
        ours,
        await runJson(Deno.execPath(), [
          "run",
          "-A",
          new URL("scripts/bench.ts", ROOT).pathname,
          ...common,
          ...counts,
          "--device",
          "cpu",
          "--json",
        ]),
      );
      torch = best(
        torch,
        await runJson(values.python, [
          values["torch-script"],
          ...common,
          ...counts,
          "--device",
          "cpu",
          "--threads",
          values.threads,
        ]),
      );
      console.log(
        `${c.model} ${c.imageSize}x${c.imageSize} batch ${c.batch} round ${
          round + 1
        }: train ${ours.train_img_s} vs ${torch.train_img_s} img/s, inference ${ours.infer_img_s} vs ${torch.infer_img_s} img/s`,
      );
    }
    rows.push({ ...c, ours: ours!, torch: torch! });
  }
  const section = formatPerf(rows, {
    machine: `${cpuModel()}, ${navigator.hardwareConcurrency} cores`,
    date: new Date().toISOString().slice(0, 10),
    command: `deno task perf --rounds ${values.rounds} --steps ${values.steps} --warmup ${values.warmup}`,
    versions: `Deno ${Deno.version.deno}; ours: ${String(rows[0]?.ours.device_info ?? "")}; PyTorch ${
      String(rows[0]?.torch.torch ?? "")
    } with ${values.threads} threads`,
  });
  console.log(`\n${section}`);
  if (!values["no-write"]) {
    const file = new URL("PERFORMANCE.md", ROOT);
    const text = await Deno.readTextFile(file);
    const start = text.indexOf("<!-- perf:start -->");
    const end = text.indexOf("<!-- perf:end -->");
    if (start < 0 || end < start) {
      console.error("error: PERFORMANCE.md lacks the <!-- perf:start --> / <!-- perf:end --> markers");
      return 1;
    }
    const updated = `${text.slice(0, start)}<!-- perf:start -->\n${section}\n${text.slice(end)}`;
    const temp = `${file.pathname}.tmp`;
    await Deno.writeTextFile(temp, updated);
    await Deno.rename(temp, file);
    // Keep the file as `deno fmt` wants it (it aligns table columns), so `deno task check` stays clean.
    await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", file.pathname] }).output();
    console.log("PERFORMANCE.md updated");
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
