/**
 * The records of a run's `metrics.jsonl` (one JSON object per line, told apart by `type`), their
 * parsing, and the loss / accuracy charts drawn from them.
 *
 * @module
 */

import { type Chart, PALETTE, type Series } from "./plot.ts";

/** Training progress over the steps since the previous step record. */
export interface StepRecord {
  /** Record type. */
  type: "step";
  /** Epoch, 1-based. */
  epoch: number;
  /** Batches of this epoch done, 1-based. */
  batch: number;
  /** Batches per epoch. */
  batches: number;
  /** Optimiser steps since the start of the run. */
  step: number;
  /** Mean training loss over the logged steps. */
  loss: number;
  /** Training top-1 over the logged steps (a fraction). */
  top1: number;
  /** Learning rate. */
  lr: number;
  /** Mean wall time per step (data, forward, backward, update) in ms. */
  ms: number;
  /** Training images per second over the logged steps. */
  imagesPerSecond: number;
}

/** One finished epoch. */
export interface EpochRecord {
  /** Record type. */
  type: "epoch";
  /** Epoch, 1-based. */
  epoch: number;
  /** Optimiser steps since the start of the run. */
  step: number;
  /** Learning rate used during the epoch. */
  lr: number;
  /** Mean training loss (with label smoothing, as optimised). */
  trainLoss: number;
  /** Training top-1 in train mode (a fraction). */
  trainTop1: number;
  /** Mean test cross entropy. */
  testLoss: number;
  /** Test top-1 (a fraction). */
  testTop1: number;
  /** Test top-5 (a fraction). */
  testTop5: number;
  /** Whether this epoch set a new best test top-1 (and wrote best.safetensors). */
  best: boolean;
  /** Wall time of the epoch, training and evaluation, in seconds. */
  seconds: number;
  /** Time spent in training steps, in seconds. */
  trainSeconds: number;
  /** Time spent evaluating, in seconds. */
  evalSeconds: number;
  /** Training images per second. */
  trainImagesPerSecond: number;
  /** Evaluation images per second. */
  evalImagesPerSecond: number;
}

/** A run resumed from a checkpoint. */
export interface ResumeRecord {
  /** Record type. */
  type: "resume";
  /** Epochs completed at the checkpoint. */
  epoch: number;
  /** Batches of the next epoch done at the checkpoint. */
  batch: number;
  /** Optimiser steps at the checkpoint. */
  step: number;
  /** The device the run continues on. */
  device: string;
}

/**
 * A line of metrics.jsonl.
 *
 * @example
 * ```ts
 * import type { MetricsRecord } from "./metrics.ts";
 * const isEpoch = (r: MetricsRecord): boolean => r.type === "epoch";
 * ```
 */
export type MetricsRecord = StepRecord | EpochRecord | ResumeRecord;

const REQUIRED: Readonly<Record<MetricsRecord["type"], readonly string[]>> = {
  step: ["epoch", "batch", "batches", "step", "loss", "top1", "lr", "ms", "imagesPerSecond"],
  epoch: ["epoch", "step", "trainLoss", "trainTop1", "testLoss", "testTop1", "testTop5", "seconds"],
  resume: ["epoch", "batch", "step"],
};

/**
 * Parses metrics.jsonl text; blank lines are skipped, records of unknown type are kept out.
 *
 * @param text The file's contents.
 * @param label The file, for messages.
 * @returns The records in file order.
 * @throws An Error naming the line that is not JSON or lacks a field.
 * @example
 * ```ts
 * import { parseMetrics } from "./metrics.ts";
 * const records = parseMetrics('{"type":"resume","epoch":1,"batch":0,"step":4,"device":"cpu"}\n', "demo");
 * console.log(records.length); // 1
 * ```
 */
export function parseMetrics(text: string, label: string): MetricsRecord[] {
  const records: MetricsRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${label} line ${i + 1} is not JSON; the file is damaged`);
    }
    const record = value as Record<string, unknown>;
    const type = typeof record === "object" && record !== null ? record.type : undefined;
    if (typeof type !== "string" || !Object.hasOwn(REQUIRED, type)) return;
    const missing = REQUIRED[type as MetricsRecord["type"]].find((key) => typeof record[key] !== "number");
    if (missing) throw new Error(`${label} line ${i + 1}: record of type "${type}" lacks a numeric "${missing}"`);
    records.push(record as unknown as MetricsRecord);
  });
  return records;
}

/**
 * Serialises records as JSON Lines, so that {@linkcode parseMetrics} reads them back.
 *
 * @param records The records.
 * @returns One JSON object per line, with a final newline.
 * @throws An Error when a field the reader requires is NaN or infinite (JSON would write null).
 * @example
 * ```ts
 * import { formatMetrics } from "./metrics.ts";
 * console.log(formatMetrics([{ type: "resume", epoch: 1, batch: 0, step: 4, device: "cpu" }]));
 * ```
 */
export function formatMetrics(records: readonly MetricsRecord[]): string {
  // JSON writes NaN and infinities as null, which parseMetrics rejects: refuse them here instead.
  for (const record of records) {
    const field = REQUIRED[record.type]?.find((key) =>
      !Number.isFinite((record as unknown as Record<string, number>)[key])
    );
    if (field) throw new Error(`metrics record of type "${record.type}" has a non-finite "${field}"; not written`);
  }
  return records.map((r) => JSON.stringify(r)).join("\n") + (records.length ? "\n" : "");
}

/**
 * The epoch records of a run.
 *
 * @param records All records.
 * @returns Just the `"epoch"` ones.
 * @example
 * ```ts
 * import { epochRecords } from "./metrics.ts";
 * console.log(epochRecords([]).length); // 0
 * ```
 */
export function epochRecords(records: readonly MetricsRecord[]): EpochRecord[] {
  return records.filter((r): r is EpochRecord => r.type === "epoch");
}

/**
 * The charts of one run: loss (logged training steps, training and test per epoch) and top-1
 * accuracy in percent (training and test per epoch), against epochs.
 *
 * @param records The run's records.
 * @returns Two charts for {@linkcode renderCharts}.
 * @example
 * ```ts
 * import { runCharts } from "./metrics.ts";
 * import { renderCharts } from "./plot.ts";
 * const svg = renderCharts(runCharts([]));
 * ```
 */
export function runCharts(records: readonly MetricsRecord[]): Chart[] {
  const steps = records.filter((r): r is StepRecord => r.type === "step");
  const epochs = epochRecords(records);
  const [trainColor, testColor] = [PALETTE[0], PALETTE[1]];
  const stepX = (r: StepRecord): number => r.epoch - 1 + r.batch / r.batches;
  const lossSeries: Series[] = [
    {
      name: "train loss (logged steps)",
      color: trainColor,
      points: steps.map((r) => [stepX(r), r.loss]),
      width: 1,
      opacity: 0.45,
    },
    { name: "train (epoch)", color: trainColor, points: epochs.map((r) => [r.epoch, r.trainLoss]), markers: true },
    { name: "test (epoch)", color: testColor, points: epochs.map((r) => [r.epoch, r.testLoss]), markers: true },
  ];
  const accuracySeries: Series[] = [
    {
      name: "train top-1 (logged steps)",
      color: trainColor,
      points: steps.map((r) => [stepX(r), 100 * r.top1]),
      width: 1,
      opacity: 0.45,
      hideInLegend: true,
    },
    {
      name: "train (epoch)",
      color: trainColor,
      points: epochs.map((r) => [r.epoch, 100 * r.trainTop1]),
      markers: true,
    },
    { name: "test (epoch)", color: testColor, points: epochs.map((r) => [r.epoch, 100 * r.testTop1]), markers: true },
    {
      name: "test top-5",
      color: testColor,
      points: epochs.map((r) => [r.epoch, 100 * r.testTop5]),
      dashed: true,
      markers: true,
    },
  ];
  return [
    { title: "Loss", xLabel: "epoch", yLabel: "cross entropy", series: lossSeries, xMin: 0, yMin: 0 },
    {
      title: "Top-1 accuracy",
      xLabel: "epoch",
      yLabel: "accuracy (%)",
      series: accuracySeries,
      xMin: 0,
      yMax: 100,
    },
  ];
}
