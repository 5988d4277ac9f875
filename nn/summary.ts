/**
 * Model summaries: per-layer input / output shapes and parameters, totals, and multiply-adds,
 * printed like Keras / torchinfo tables.
 *
 * @module
 */

import { noGrad } from "./autograd.ts";
import { Conv2d, Linear, type Module } from "./layers.ts";
import { zeros } from "./creation.ts";
import { tidy } from "./scope.ts";
import type { Tensor } from "./tensor.ts";

/** One leaf layer of a summary. */
export interface SummaryRow {
  /** Dotted path, e.g. `layer1.0.conv2.conv_4`. */
  path: string;
  /** Class name, e.g. `Conv2d`. */
  type: string;
  /** Input shape of its (first) call. */
  inputShape: number[];
  /** Output shape of its (first) call. */
  outputShape: number[];
  /** Parameters it owns. */
  params: number;
  /** Multiply-adds of its calls (convolutions and linear layers; 0 elsewhere). */
  multiplyAdds: number;
}

/** A model summary. */
export interface Summary {
  /** Leaf layers in call order. */
  rows: SummaryRow[];
  /** Trainable parameters. */
  trainableParams: number;
  /** Parameters plus floating-point buffers (BatchNorm running statistics). */
  paramsWithBuffers: number;
  /** Multiply-adds of one forward pass at the input shape. */
  multiplyAdds: number;
  /** The input shape used. */
  inputShape: number[];
  /** Output shape of the model. */
  outputShape: number[];
}

function ownParams(m: Module): number {
  let n = 0;
  for (const [name, t] of m.namedParameters()) if (!name.includes(".")) n += t.size;
  return n;
}

function multiplyAddsOf(m: Module, input: readonly number[], output: readonly number[]): number {
  if (m instanceof Conv2d) {
    const [, inChannels, kh, kw] = m.weight.shape;
    return output.reduce((a, b) => a * b, 1) * inChannels * kh * kw;
  }
  if (m instanceof Linear) return (input.reduce((a, b) => a * b, 1) / m.weight.shape[1]) * m.weight.size;
  return 0;
}

/**
 * Runs one forward pass (no grad, eval mode, zeros of `inputShape`) and records every leaf layer.
 * The model's mode is restored afterwards.
 *
 * @param model The model.
 * @param inputShape Input shape, e.g. [1, 3, 224, 224].
 * @returns Rows and totals.
 * @example
 * ```ts
 * import { summary } from "./summary.ts";
 * import { epsanet50 } from "./epsanet.ts";
 * const s = summary(epsanet50(), [1, 3, 224, 224]);
 * console.log(s.trainableParams); // 22561715
 * ```
 */
export function summary(model: Module, inputShape: readonly number[]): Summary {
  const rows: SummaryRow[] = [];
  const leaves = [...model.namedModules()].filter(([, m]) => m.namedChildren().length === 0);
  const wrapped: Module[] = [];
  const wasTraining = model.training;
  let outputShape: number[] = [];
  try {
    for (const [path, m] of leaves) {
      const original = m.forward;
      // An own property shadows the prototype's forward for this call only.
      m.forward = (x: Tensor): Tensor => {
        const y = original.call(m, x);
        const row = rows.find((r) => r.path === path);
        const adds = multiplyAddsOf(m, x.shape, y.shape);
        if (row) row.multiplyAdds += adds;
        else {
          rows.push({
            path,
            type: m.constructor.name,
            inputShape: [...x.shape],
            outputShape: [...y.shape],
            params: ownParams(m),
            multiplyAdds: adds,
          });
        }
        return y;
      };
      wrapped.push(m);
    }
    model.eval();
    outputShape = tidy(() => [
      ...noGrad(() => model.forward(zeros(inputShape, { device: model.parameters()[0]?.device }))).shape,
    ]);
  } finally {
    for (const m of wrapped) delete (m as { forward?: unknown }).forward;
    model.train(wasTraining);
  }
  const trainableParams = model.numParameters();
  const integer = model.integerStateKeys();
  let buffers = 0;
  for (const [name, t] of model.namedBuffers()) if (!integer.has(name)) buffers += t.size;
  return {
    rows,
    trainableParams,
    paramsWithBuffers: trainableParams + buffers,
    multiplyAdds: rows.reduce((s, r) => s + r.multiplyAdds, 0),
    inputShape: [...inputShape],
    outputShape,
  };
}

/**
 * A number with thousands separators.
 *
 * @param n The number.
 * @returns e.g. `22,561,715`.
 * @example
 * ```ts
 * import { withCommas } from "./summary.ts";
 * withCommas(1234567); // "1,234,567"
 * ```
 */
export function withCommas(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * The summary as a text table with a totals footer.
 *
 * @param s A summary.
 * @param title Heading (e.g. the model name).
 * @returns The table.
 * @example
 * ```ts
 * import { formatSummary, summary } from "./summary.ts";
 * import { resnet50 } from "./resnet.ts";
 * console.log(formatSummary(summary(resnet50(), [1, 3, 224, 224]), "resnet50"));
 * ```
 */
export function formatSummary(s: Summary, title = "Model"): string {
  const shape = (d: number[]) => `[${d.join(", ")}]`;
  const table = [
    ["Layer (type)", "Input shape", "Output shape", "Param #"],
    ...s.rows.map((
      r,
    ) => [`${r.path} (${r.type})`, shape(r.inputShape), shape(r.outputShape), withCommas(r.params)]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const line = (row: string[]) =>
    row.map((cell, c) => (c === row.length - 1 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join(
      "  ",
    );
  const rule = "=".repeat(widths.reduce((a, b) => a + b + 2, -2));
  return [
    `${title}: input ${shape(s.inputShape)} -> output ${shape(s.outputShape)}`,
    rule,
    line(table[0]),
    rule.replaceAll("=", "-"),
    ...table.slice(1).map(line),
    rule,
    `Trainable params: ${withCommas(s.trainableParams)}`,
    `Params + BN running statistics: ${withCommas(s.paramsWithBuffers)}`,
    `Multiply-adds: ${withCommas(s.multiplyAdds)} (${(s.multiplyAdds / 1e9).toFixed(2)} G)`,
    rule,
  ].join("\n");
}
