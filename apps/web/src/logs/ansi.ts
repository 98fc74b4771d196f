/** A run of text with one style, from a line with ANSI SGR colour codes. */
export interface Span {
  text: string
  fg?: string
  bg?: string
  bold?: boolean
  dim?: boolean
  italic?: boolean
  underline?: boolean
}

type Style = Omit<Span, 'text'>

const basic = [
  '#1e1e1e',
  '#cd3131',
  '#0dbc79',
  '#c8b000',
  '#2472c8',
  '#bc3fbc',
  '#11a8cd',
  '#c5c5c5',
  '#666666',
  '#f14c4c',
  '#23d18b',
  '#f5f543',
  '#3b8eea',
  '#d670d6',
  '#29b8db',
  '#ffffff',
]

/** Colour n of the xterm 256-colour palette as CSS. */
export function color256(n: number): string {
  if (n < 16) return basic[n]!
  if (n < 232) {
    const i = n - 16
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40)
    return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`
  }
  const grey = 8 + (n - 232) * 10
  return `rgb(${grey},${grey},${grey})`
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences start with ESC
const escapes = /\u001b\[([0-9;?]*)([A-Za-z])|\u001b[()][A-Za-z0-9]|\u001b[=>]|\r/g

function applySgr(style: Style, params: number[]): Style {
  const next: Style = { ...style }
  if (!params.length) params = [0]
  for (let i = 0; i < params.length; i++) {
    const code = params[i]!
    if (code === 0) {
      for (const key of Object.keys(next) as (keyof Style)[]) delete next[key]
    } else if (code === 1) next.bold = true
    else if (code === 2) next.dim = true
    else if (code === 3) next.italic = true
    else if (code === 4) next.underline = true
    else if (code === 22) {
      delete next.bold
      delete next.dim
    } else if (code === 23) delete next.italic
    else if (code === 24) delete next.underline
    else if (code >= 30 && code <= 37) next.fg = basic[code - 30]!
    else if (code >= 90 && code <= 97) next.fg = basic[code - 90 + 8]!
    else if (code >= 40 && code <= 47) next.bg = basic[code - 40]!
    else if (code >= 100 && code <= 107) next.bg = basic[code - 100 + 8]!
    else if (code === 39) delete next.fg
    else if (code === 49) delete next.bg
    else if (code === 38 || code === 48) {
      const key = code === 38 ? 'fg' : 'bg'
      if (params[i + 1] === 5 && params[i + 2] !== undefined) {
        next[key] = color256(params[i + 2]!)
        i += 2
      } else if (params[i + 1] === 2 && params[i + 4] !== undefined) {
        next[key] = `rgb(${params[i + 2]},${params[i + 3]},${params[i + 4]})`
        i += 4
      }
    }
  }
  return next
}

/** Splits a line into styled spans; escape sequences other than colours are dropped. */
export function parseAnsi(line: string): Span[] {
  if (!line.includes('\u001b') && !line.includes('\r')) return [{ text: line }]
  const spans: Span[] = []
  let style: Style = {}
  let at = 0
  const push = (text: string) => {
    if (text) spans.push({ text, ...style })
  }
  for (const match of line.matchAll(escapes)) {
    push(line.slice(at, match.index))
    at = match.index + match[0].length
    if (match[2] === 'm') {
      const params = (match[1] ?? '')
        .split(';')
        .filter((p) => p !== '' && p !== '?')
        .map(Number)
      style = applySgr(
        style,
        params.filter((n) => Number.isFinite(n)),
      )
    }
  }
  push(line.slice(at))
  return spans
}

/** The text without escape sequences (search, download). */
export function stripAnsi(line: string): string {
  return line.includes('\u001b') || line.includes('\r') ? line.replace(escapes, '') : line
}
