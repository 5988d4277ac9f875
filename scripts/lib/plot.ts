/**
 * Line charts as hand-written SVG, with no dependencies: panels side by side, each with a title,
 * axes, "nice" ticks and grid lines, and one legend for the whole figure.
 *
 * @module
 */

/** One line of a chart. */
export interface Series {
  /** Legend label. */
  name: string;
  /** CSS colour. */
  color: string;
  /** (x, y) points in drawing order; non-finite points break the line. */
  points: readonly (readonly [number, number])[];
  /** Dashed stroke (default false). */
  dashed?: boolean;
  /** Draw a dot at each point (default false; single points always get one). */
  markers?: boolean;
  /** Stroke width (default 2). */
  width?: number;
  /** Stroke opacity (default 1). */
  opacity?: number;
  /** Leave it out of the legend (default false). */
  hideInLegend?: boolean;
}

/** One panel. */
export interface Chart {
  /** Title above the panel. */
  title: string;
  /** X axis label. */
  xLabel: string;
  /** Y axis label. */
  yLabel: string;
  /** The lines. */
  series: readonly Series[];
  /** Fixed lower x bound (default: from the data). */
  xMin?: number;
  /** Fixed lower y bound (default: from the data). */
  yMin?: number;
  /** Fixed upper y bound (default: from the data). */
  yMax?: number;
}

/** Options of {@linkcode renderCharts}. */
export interface RenderOptions {
  /** A title over the whole figure. */
  title?: string;
  /** Width of each panel in pixels (default 480). */
  panelWidth?: number;
  /** Height of each panel in pixels (default 320). */
  panelHeight?: number;
}

/**
 * Ten distinguishable colours (Tableau 10), for one colour per run or per curve.
 *
 * @example
 * ```ts
 * import { PALETTE } from "./plot.ts";
 * console.log(PALETTE[0]); // "#4e79a7"
 * ```
 */
export const PALETTE: readonly string[] = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

const MARGIN = { left: 64, right: 16, top: 34, bottom: 46 };
const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', sans-serif"`;
const LEGEND_ROW = 20;
const XML_ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for SVG content and attribute values.
 *
 * @param text Any text.
 * @returns The text with `& < > " '` escaped.
 * @example
 * ```ts
 * import { escapeXml } from "./plot.ts";
 * console.log(escapeXml("a < b")); // "a &lt; b"
 * ```
 */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ENTITIES[c]);
}

/**
 * About `count` evenly spaced round tick values (steps of 1, 2 or 5 times a power of ten) that
 * cover [min, max].
 *
 * @param min Lower end of the data.
 * @param max Upper end of the data.
 * @param count Wanted number of intervals (default 5).
 * @returns Tick values, ascending; the first is <= min and the last >= max.
 * @example
 * ```ts
 * import { niceTicks } from "./plot.ts";
 * console.log(niceTicks(0.13, 0.97)); // [0, 0.2, 0.4, 0.6, 0.8, 1]
 * ```
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    [min, max] = [min - pad, max + pad];
  }
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  // Multiplying integers by the step keeps 0.1 + 0.2 style drift out of the labels.
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

function formatTick(value: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return value.toFixed(Math.min(decimals, 8));
}

/** An approximate text width, enough to lay out legends without measuring fonts. */
function textWidth(text: string, size: number): number {
  return text.length * size * 0.56;
}

function renderPanel(chart: Chart, x0: number, y0: number, width: number, height: number): string {
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const finite = chart.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = finite.map(([x]) => x);
  const ys = finite.map(([, y]) => y);
  const xTicks = niceTicks(chart.xMin ?? (xs.length ? Math.min(...xs) : 0), xs.length ? Math.max(...xs) : 1);
  const yTicks = niceTicks(
    chart.yMin ?? (ys.length ? Math.min(...ys) : 0),
    chart.yMax ?? (ys.length ? Math.max(...ys) : 1),
  );
  const [xLow, xHigh] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [yLow, yHigh] = [yTicks[0], yTicks[yTicks.length - 1]];
  const px = (x: number): number => x0 + MARGIN.left + ((x - xLow) / (xHigh - xLow)) * plotWidth;
  const py = (y: number): number => y0 + MARGIN.top + (1 - (y - yLow) / (yHigh - yLow)) * plotHeight;
  const r = (v: number): string => v.toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<text x="${r(x0 + MARGIN.left + plotWidth / 2)}" y="${r(y0 + 20)}" text-anchor="middle" ` +
      `font-size="14" font-weight="600">${escapeXml(chart.title)}</text>`,
  );
  const xStep = xTicks.length > 1 ? xTicks[1] - xTicks[0] : 1;
  const yStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  for (const t of yTicks) {
    parts.push(
      `<line x1="${r(px(xLow))}" y1="${r(py(t))}" x2="${r(px(xHigh))}" y2="${r(py(t))}" stroke="#e5e5e5"/>`,
      `<text x="${r(px(xLow) - 6)}" y="${r(py(t) + 4)}" text-anchor="end" font-size="11" fill="#555">` +
        `${formatTick(t, yStep)}</text>`,
    );
  }
  for (const t of xTicks) {
    parts.push(
      `<line x1="${r(px(t))}" y1="${r(py(yLow))}" x2="${r(px(t))}" y2="${r(py(yHigh))}" stroke="#f0f0f0"/>`,
      `<text x="${r(px(t))}" y="${r(py(yLow) + 16)}" text-anchor="middle" font-size="11" fill="#555">` +
        `${formatTick(t, xStep)}</text>`,
    );
  }
  parts.push(
    `<rect x="${r(px(xLow))}" y="${r(py(yHigh))}" width="${r(plotWidth)}" height="${r(plotHeight)}" ` +
      `fill="none" stroke="#999"/>`,
    `<text x="${r(x0 + MARGIN.left + plotWidth / 2)}" y="${r(y0 + height - 8)}" text-anchor="middle" ` +
      `font-size="12">${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(${r(x0 + 16)} ${r(y0 + MARGIN.top + plotHeight / 2)}) rotate(-90)" ` +
      `text-anchor="middle" font-size="12">${escapeXml(chart.yLabel)}</text>`,
  );
  for (const s of chart.series) {
    const stroke = `stroke="${escapeXml(s.color)}" stroke-width="${s.width ?? 2}"` +
      (s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : "") +
      (s.dashed ? ` stroke-dasharray="6 4"` : "");
    let d = "";
    let pen = false;
    let drawn = 0;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${r(px(x))} ${r(py(y))} `;
      pen = true;
      drawn++;
    }
    if (drawn > 1) {
      parts.push(`<path d="${d.trimEnd()}" fill="none" ${stroke} stroke-linejoin="round"/>`);
    }
    if (s.markers || drawn === 1) {
      for (const [x, y] of s.points) {
        if (Number.isFinite(x) && Number.isFinite(y)) {
          parts.push(`<circle cx="${r(px(x))}" cy="${r(py(y))}" r="3" fill="${escapeXml(s.color)}"/>`);
        }
      }
    }
  }
  return parts.join("\n");
}

/**
 * Renders panels side by side, with a legend of every named series under them.
 *
 * @param charts The panels, left to right.
 * @param options Figure title and panel size.
 * @returns A standalone SVG document (starts with `<svg`).
 * @example
 * ```ts
 * import { renderCharts } from "./plot.ts";
 * const svg = renderCharts([{
 *   title: "Loss", xLabel: "epoch", yLabel: "loss",
 *   series: [{ name: "train", color: "#4e79a7", points: [[1, 0.9], [2, 0.5]] }],
 * }]);
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function renderCharts(charts: readonly Chart[], options: RenderOptions = {}): string {
  const panelWidth = options.panelWidth ?? 480;
  const panelHeight = options.panelHeight ?? 320;
  const top = options.title ? 30 : 0;
  const width = panelWidth * Math.max(charts.length, 1);

  const legend = new Map<string, Series>();
  for (const s of charts.flatMap((c) => c.series)) {
    if (!s.hideInLegend && !legend.has(s.name)) legend.set(s.name, s);
  }
  const legendItems: string[] = [];
  let lx = MARGIN.left;
  let row = 0;
  for (const s of legend.values()) {
    const itemWidth = 30 + textWidth(s.name, 12) + 18;
    if (lx + itemWidth > width - MARGIN.right && lx > MARGIN.left) {
      lx = MARGIN.left;
      row++;
    }
    const y = top + panelHeight + 12 + row * LEGEND_ROW;
    legendItems.push(
      `<line x1="${lx}" y1="${y}" x2="${lx + 24}" y2="${y}" stroke="${escapeXml(s.color)}" ` +
        `stroke-width="${Math.max(s.width ?? 2, 1.5)}"` +
        (s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : "") +
        (s.dashed ? ` stroke-dasharray="6 4"` : "") + `/>`,
      `<text x="${lx + 30}" y="${y + 4}" font-size="12">${escapeXml(s.name)}</text>`,
    );
    lx += itemWidth;
  }
  const height = top + panelHeight + (legend.size ? (row + 1) * LEGEND_ROW + 8 : 0);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  if (options.title) {
    parts.push(
      `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">` +
        `${escapeXml(options.title)}</text>`,
    );
  }
  charts.forEach((chart, i) => parts.push(renderPanel(chart, i * panelWidth, top, panelWidth, panelHeight)));
  parts.push(...legendItems, "</svg>", "");
  return parts.join("\n");
}
