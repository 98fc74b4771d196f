import { describe, expect, it } from 'vitest'
import { color256, parseAnsi, stripAnsi } from './ansi.ts'

describe('parseAnsi', () => {
  it('keeps a plain line as one span', () => {
    expect(parseAnsi('hello world')).toEqual([{ text: 'hello world' }])
  })

  it('splits colours, bold and resets into spans', () => {
    expect(parseAnsi('a\u001b[31mred\u001b[1;32m bold green\u001b[0m plain')).toEqual([
      { text: 'a' },
      { text: 'red', fg: '#cd3131' },
      { text: ' bold green', fg: '#0dbc79', bold: true },
      { text: ' plain' },
    ])
  })

  it('reads 256-colour and true-colour foregrounds and backgrounds', () => {
    expect(parseAnsi('\u001b[38;5;196mx\u001b[48;2;1;2;3my')).toEqual([
      { text: 'x', fg: color256(196) },
      { text: 'y', fg: color256(196), bg: 'rgb(1,2,3)' },
    ])
  })

  it('drops cursor movements and carriage returns', () => {
    expect(parseAnsi('\u001b[2Kprogress\r 50%')).toEqual([{ text: 'progress' }, { text: ' 50%' }])
    expect(stripAnsi('\u001b[1m\u001b[34mStep 1/3\u001b[0m')).toBe('Step 1/3')
  })

  it('maps the 256-colour cube and grey ramp', () => {
    expect(color256(1)).toBe('#cd3131')
    expect(color256(16)).toBe('rgb(0,0,0)')
    expect(color256(231)).toBe('rgb(255,255,255)')
    expect(color256(232)).toBe('rgb(8,8,8)')
  })
})
