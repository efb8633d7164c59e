/**
 * Small self-contained SVG bar charts for docs/BENCHMARKS.md (no chart library): one horizontal bar
 * per system, the value printed at the bar's end; LambdaStore's bars in their own colour. The scale
 * follows the systems compared, not the floors: a floor far beyond them is drawn clipped (a jagged
 * end) with its value printed, so the bars that matter stay readable.
 */
export interface Bar {
  label: string;
  value: number;
  /** Text after the value, e.g. "p50 1.2 ms". */
  note?: string;
  kind: 'us' | 'peer' | 'floor';
}

const COLOURS = { us: '#2563eb', peer: '#9ca3af', floor: '#d1d5db' } as const;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChart(title: string, unit: string, bars: Bar[]): string {
  const labelW = 300;
  const barW = 420;
  const rowH = 26;
  const top = 40;
  const width = labelW + barW + 200;
  const height = top + rowH * bars.length + 20;
  const finite = (b: Bar) => (Number.isFinite(b.value) ? b.value : 0);
  const compared = bars.filter((b) => b.kind !== 'floor').map(finite);
  const max = compared.length ? Math.max(1, ...compared) * 1.15 : Math.max(1, ...bars.map(finite));
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const clipped = finite(b) > max;
    const w = Number.isFinite(b.value) ? Math.max(1, Math.min(1, b.value / max) * barW) : 0;
    const value = Number.isFinite(b.value) ? `${Math.round(b.value).toLocaleString('en-US')} ${unit}` : 'skipped';
    return [
      `<text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${labelW}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${COLOURS[b.kind]}"/>`,
      clipped ? `<path d="M${labelW + w - 8} ${y + 4} l4 4 l-4 5 l4 5" stroke="white" stroke-width="2" fill="none"/>` : '',
      `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 17}">${esc(value)}${b.note ? ` · ${esc(b.note)}` : ''}</text>`,
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="24" font-size="15" font-weight="bold">${esc(title)}</text>
${rows.join('\n')}
</svg>
`;
}
