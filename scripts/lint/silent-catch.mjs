#!/usr/bin/env node
// Fails on a silent catch in production code (apps/*/src, packages/*/src; tests and the
// testing package excluded). A catch must handle a named case or log with the error, so the
// caught error must be bound and used:
//   - `catch { ... }` (no binding) and `catch (error) { ... }` that never reads `error`;
//   - `.catch(() => ...)` / `.catch((_e) => ...)`, a handler that ignores its argument;
//   - `.on('error', () => ...)`, `.once('error', ...)`, `addEventListener('error', ...)` alike.
// A handler passed by name (`.catch(onFailure)`) is trusted to look at what it gets. Where
// every failure means one answer (a port probe: any error is "nothing listens"), say so with
// `// catch-ok: <why>` on the line above or the same line; the check counts those.
// Usage: node scripts/lint/silent-catch.mjs [files...]   (run by `pnpm lint`)
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import ts from 'typescript'

const root = path.resolve(import.meta.dirname, '../..')

function productionFiles() {
  const listed = execFileSync(
    'git',
    [
      'ls-files',
      '--cached',
      '--others',
      '--exclude-standard',
      '--',
      ':(glob)apps/*/src/**',
      ':(glob)packages/*/src/**',
    ],
    { cwd: root, encoding: 'utf8' },
  )
  return (
    listed
      .split('\n')
      .filter((file) => /\.(ts|tsx|mts|mjs|js)$/.test(file) && !file.endsWith('.d.ts'))
      .filter((file) => !/\.test\.tsx?$/.test(file) && !/(^|\/)generated\//.test(file))
      // Test support that still lives in a package's src (e.g. the gateway's HAProxy fixture).
      .filter((file) => !/fixtures?\.ts$/.test(file) && !file.includes('/test-support/'))
      .filter((file) => !file.startsWith('packages/testing/') && existsSync(path.join(root, file)))
  )
}

/** Whether `name` is read anywhere inside `node`. */
function uses(node, name) {
  let found = false
  const visit = (child) => {
    if (found) return
    if (ts.isIdentifier(child) && child.text === name) found = true
    else ts.forEachChild(child, visit)
  }
  ts.forEachChild(node, visit)
  return found
}

/** Why a callback given an error ignores it, or undefined when it takes and reads the error. */
function ignoresItsError(callback) {
  if (!ts.isArrowFunction(callback) && !ts.isFunctionExpression(callback)) return undefined
  const first = callback.parameters[0]
  if (!first) return 'takes no error'
  if (!ts.isIdentifier(first.name)) return undefined
  return uses(callback.body, first.name.text) ? undefined : `never reads ${first.name.text}`
}

const errorEvents = new Set(['error'])
const listenerMethods = new Set(['on', 'once', 'addListener', 'prependListener', 'addEventListener'])

function check(file) {
  const text = readFileSync(path.join(root, file), 'utf8')
  const kind = file.endsWith('x') ? ts.ScriptKind.TSX : undefined
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind)
  const found = []
  const lines = text.split('\n')
  const report = (node, what) => {
    const { line } = source.getLineAndCharacterOfPosition(node.getStart(source))
    if (/catch-ok: \S/.test(`${lines[line - 1] ?? ''}\n${lines[line]}`)) exempted.push(`${file}:${line + 1}`)
    else found.push(`${file}:${line + 1}: ${what}`)
  }
  const visit = (node) => {
    if (ts.isCatchClause(node)) {
      const binding = node.variableDeclaration?.name
      if (!binding) report(node, 'catch without a binding: name the case it handles, or log the error')
      else if (ts.isIdentifier(binding) && !uses(node.block, binding.text))
        report(node, `catch never reads ${binding.text}: handle a named case or log it`)
    } else if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const method = node.expression.name.text
      const [first, second] = node.arguments
      if (method === 'catch' && first) {
        const why = ignoresItsError(first)
        if (why) report(node.expression.name, `.catch handler ${why}: handle a named case or log it`)
      } else if (
        listenerMethods.has(method) &&
        first &&
        ts.isStringLiteralLike(first) &&
        errorEvents.has(first.text) &&
        second
      ) {
        const why = ignoresItsError(second)
        if (why) report(node.expression.name, `'error' listener ${why}: log it or handle a named case`)
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const exempted = []
const files = process.argv.length > 2 ? process.argv.slice(2) : productionFiles()
const problems = files.flatMap(check)
if (problems.length) {
  console.error(`silent catches: ${problems.length}\n${problems.join('\n')}`)
  process.exit(1)
}
process.stdout.write(
  `silent-catch: ${files.length} files, none silent (${exempted.length} marked catch-ok)\n`,
)
