/** Small conversions between form text and request values (pure). */

/** "" -> undefined, otherwise the number (NaN stays NaN so the schema reports it). */
export function num(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text)
}

/** "a, b ,c" -> ["a", "b", "c"] */
export function list(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((item) => item.trim())
    .filter(Boolean)
}

/** "KEY=value" lines -> record; a line without "=" becomes a key with an empty value. */
export function pairs(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    const at = line.indexOf('=')
    const key = (at < 0 ? line : line.slice(0, at)).trim()
    out[key] = at < 0 ? '' : line.slice(at + 1)
  }
  return out
}

export function pairsText(record: Record<string, string>): string {
  return Object.entries(record)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')
}

/** "25%" stays text, "2" becomes 2 (for count-or-percent fields). */
export function countOrPercent(text: string): number | string {
  return /^\d+$/.test(text.trim()) ? Number(text) : text.trim()
}
