/** Durations as people write them on a command line: `90s`, `15m`, `24h`, `7d`, `2w`. */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) throw new Error(`invalid duration "${text}" (use e.g. 30m, 24h, 7d)`);
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}
