/**
 * scripts/compare.ts on run folders made by the test (config.json + metrics.jsonl): the table,
 * the SVG, the files it writes, and its errors.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { compareRuns, markdownTable, readRun } from "../scripts/compare.ts";
import { type EpochRecord, formatMetrics, type MetricsRecord } from "../scripts/lib/metrics.ts";
import { type CommandOutput, runDeno, testWith } from "./helpers.ts";

const SCRIPT = new URL("../scripts/compare.ts", import.meta.url).pathname;

function epoch(n: number, testTop1: number, seconds: number, imagesPerSecond: number): EpochRecord {
  return {
    type: "epoch",
    epoch: n,
    step: 10 * n,
    lr: 0.001,
    trainLoss: 1 / n,
    trainTop1: testTop1 - 0.01,
    testLoss: 0.8 / n,
    testTop1,
    testTop5: 0.99,
    best: true,
    seconds,
    trainSeconds: seconds - 1,
    evalSeconds: 1,
    trainImagesPerSecond: imagesPerSecond,
    evalImagesPerSecond: 4 * imagesPerSecond,
  };
}

async function makeRun(dir: string, model: string, records: MetricsRecord[]): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify({ model, dataset: "digits" }));
  await Deno.writeTextFile(join(dir, "metrics.jsonl"), formatMetrics(records));
  return dir;
}

const runCompareScript = (args: string[], cwd?: string): Promise<CommandOutput> =>
  runDeno(["run", "-A", SCRIPT, ...args], { cwd });

async function withRuns(fn: (root: string, runs: string[]) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "compare_test_" });
  try {
    const step: MetricsRecord = {
      type: "step",
      epoch: 1,
      batch: 5,
      batches: 10,
      step: 5,
      loss: 2,
      top1: 0.3,
      lr: 0.001,
      ms: 700,
      imagesPerSecond: 45,
    };
    const runs = [
      await makeRun(join(root, "epsa & co"), "epsanet50", [step, epoch(1, 0.9, 200, 40), epoch(2, 0.95, 210, 42)]),
      await makeRun(join(root, "resnet"), "resnet50", [epoch(1, 0.92, 100, 60), epoch(2, 0.91, 110, 62)]),
      await makeRun(join(root, "interrupted"), "epsanet101", [step]),
    ];
    await fn(root, runs);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

testWith("compareRuns() summarises runs in a table and one SVG", ["read", "write"], async () => {
  await withRuns(async (_, [epsa, resnet, interrupted]) => {
    const { runs, svg, markdown } = await compareRuns([epsa, `${resnet}/`, interrupted]);
    assert.deepEqual(runs.map((r) => r.model), ["epsanet50", "resnet50", "epsanet101"]);
    assert.deepEqual(runs[0].best, { top1: 0.95, epoch: 2 });
    assert.deepEqual(runs[1].best, { top1: 0.92, epoch: 1 });
    assert.equal(runs[1].name, resnet); // trailing slash dropped
    assert.equal(runs[0].epochSeconds, 205);
    assert.equal(runs[1].imagesPerSecond, 61);
    assert.equal(runs[2].best, null);

    const lines = markdown.split("\n");
    assert.equal(lines.length, 5);
    assert.match(lines[0], /^\| run \| model \| dataset \| epochs \| best top-1 \| .* epoch time \| images\/s \|$/);
    assert.match(
      lines[2],
      /^\| .*epsa & co \| epsanet50 \| digits \| 2 \| 95\.00% \(epoch 2\) \| 95\.00% \| 99\.00% \| 205\.0 s \| 41\.0 \|$/,
    );
    assert.match(lines[3], /\| resnet50 \| digits \| 2 \| 92\.00% \(epoch 1\) \| 91\.00% \|/);
    assert.match(lines[4], /\| epsanet101 \| digits \| 0 \| - \| - \| - \| - \| - \|$/);

    assert.ok(svg.startsWith("<svg"));
    assert.ok(svg.trimEnd().endsWith("</svg>"));
    assert.ok(svg.includes("epsa &amp; co"), "names are escaped");
    assert.ok(!svg.includes("epsa & co"));
    assert.ok(svg.includes("Test top-1 accuracy"));
    // Accuracy: one curve per run with epochs (2); loss: test and train per such run (4).
    assert.equal(svg.match(/<path /g)?.length, 6);
  });
});

testWith("markdownTable() escapes pipes in run names", [], () => {
  const table = markdownTable([{
    name: "a|b",
    model: "resnet50",
    dataset: "digits",
    epochs: [],
    best: null,
    final: null,
    epochSeconds: null,
    imagesPerSecond: null,
  }]);
  assert.match(table.split("\n")[2], /^\| a\\\|b \| resnet50 \|/);
});

testWith("compare.ts writes the SVG and the Markdown table", ["read", "write", "run"], async () => {
  await withRuns(async (root, [epsa, resnet]) => {
    const { code, stdout, stderr } = await runCompareScript([
      epsa,
      resnet,
      "--out",
      join(root, "cmp.svg"),
      "--markdown",
      join(root, "cmp.md"),
    ]);
    assert.equal(code, 0, stderr);
    const md = (await Deno.readTextFile(join(root, "cmp.md"))).split("\n");
    assert.match(md[0], /^<!-- written by deno task compare/);
    assert.equal(stdout.trimEnd(), md.slice(1).join("\n").trimEnd());
    assert.equal(stdout.trimEnd().split("\n").length, 4);
    assert.ok((await Deno.readTextFile(join(root, "cmp.svg"))).startsWith("<svg"));
    const names = [...Deno.readDirSync(root)].map((e) => e.name).sort();
    assert.deepEqual(names, ["cmp.md", "cmp.svg", "epsa & co", "interrupted", "resnet"]); // no temp files

    const defaults = await runCompareScript([epsa], root);
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.ok((await Deno.readTextFile(join(root, "compare.svg"))).startsWith("<svg"));
  });
});

testWith(
  "compare.ts exits 2 on bad flags and 1 on unreadable runs, with one error line",
  ["read", "write", "run"],
  async () => {
    await withRuns(async (root, [epsa]) => {
      const damaged = join(root, "damaged");
      await Deno.mkdir(damaged);
      await Deno.writeTextFile(join(damaged, "metrics.jsonl"), '{"type":"epoch","epoch":1}\n{not json\n');
      const cases: [string[], number, RegExp][] = [
        [[], 2, /^error: give at least one run folder/],
        [[epsa, "--bogus"], 2, /^error: unknown flag --bogus/],
        [[epsa, "--out"], 2, /^error: --out needs a value/],
        [[epsa, "--out="], 2, /^error: --out must not be empty/],
        [[join(root, "nowhere")], 1, /^error: .*nowhere is not a training run: cannot read .*metrics\.jsonl/],
        [[damaged], 1, /^error: .*metrics\.jsonl line 1: record of type "epoch" lacks a numeric "step"/],
      ];
      for (const [args, expected, pattern] of cases) {
        const { code, stdout, stderr } = await runCompareScript(args, root);
        assert.equal(code, expected, `${args.join(" ")}: ${stdout}${stderr}`);
        assert.equal(stdout, "");
        const lines = stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, stderr);
        assert.match(lines[0], pattern);
      }
    });
  },
);

testWith("readRun() reads a run without config.json", ["read", "write"], async () => {
  await withRuns(async (_, [epsa]) => {
    await Deno.remove(join(epsa, "config.json"));
    const run = await readRun(epsa);
    assert.equal(run.model, "?");
    assert.equal(run.epochs.length, 2);
  });
});
