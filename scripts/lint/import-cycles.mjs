#!/usr/bin/env node
// Fails when TypeScript modules import each other in a circle. Follows every import and
// re-export (type-only ones too: a circle of types is still a knot to read through), resolved
// the way the compiler resolves them, over the two programs `pnpm typecheck` checks.
// Usage: node scripts/lint/import-cycles.mjs   (run by `pnpm lint`)
import path from 'node:path'
import ts from 'typescript'

const root = path.resolve(import.meta.dirname, '../..')
const configs = ['tsconfig.node.json', 'apps/web/tsconfig.json']

/** Every module a file imports, resolved to files of the repo (packages' node_modules links followed). */
function importsOf(file, options, host) {
  const source = ts.createSourceFile(file, ts.sys.readFile(file) ?? '', ts.ScriptTarget.Latest, true)
  const specifiers = []
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) specifiers.push(node.moduleSpecifier.text)
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specifiers.push(node.arguments[0].text)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  const targets = []
  for (const specifier of specifiers) {
    const resolved = ts.resolveModuleName(specifier, file, options, host).resolvedModule
    if (!resolved || resolved.isExternalLibraryImport) continue
    const target = ts.sys.realpath ? ts.sys.realpath(resolved.resolvedFileName) : resolved.resolvedFileName
    if (!target.startsWith(root) || target.includes(`${path.sep}node_modules${path.sep}`)) continue
    targets.push(target)
  }
  return targets
}

const graph = new Map()
for (const config of configs) {
  const configPath = path.join(root, config)
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic() {} },
  )
  if (!parsed) throw new Error(`cannot read ${config}`)
  const host = ts.createCompilerHost(parsed.options)
  for (const file of parsed.fileNames) {
    // Generated code (the Prisma client) is not ours to untangle.
    if (file.endsWith('.d.ts') || file.includes(`${path.sep}generated${path.sep}`)) continue
    const real = ts.sys.realpath ? ts.sys.realpath(file) : file
    if (!graph.has(real)) graph.set(real, importsOf(real, parsed.options, host))
  }
}

// Tarjan's strongly connected components, iteratively (a deep graph must not blow the stack).
let index = 0
const indexOf = new Map()
const lowOf = new Map()
const onStack = new Set()
const stack = []
const circles = []
for (const start of graph.keys()) {
  if (indexOf.has(start)) continue
  const work = [[start, 0]]
  indexOf.set(start, index)
  lowOf.set(start, index++)
  stack.push(start)
  onStack.add(start)
  while (work.length) {
    const frame = work[work.length - 1]
    const [node, next] = frame
    const edges = graph.get(node) ?? []
    if (next < edges.length) {
      frame[1]++
      const target = edges[next]
      if (!graph.has(target)) continue
      if (!indexOf.has(target)) {
        indexOf.set(target, index)
        lowOf.set(target, index++)
        stack.push(target)
        onStack.add(target)
        work.push([target, 0])
      } else if (onStack.has(target)) {
        lowOf.set(node, Math.min(lowOf.get(node), indexOf.get(target)))
      }
      continue
    }
    work.pop()
    if (work.length) {
      const parent = work[work.length - 1][0]
      lowOf.set(parent, Math.min(lowOf.get(parent), lowOf.get(node)))
    }
    if (lowOf.get(node) === indexOf.get(node)) {
      const component = []
      let member
      do {
        member = stack.pop()
        onStack.delete(member)
        component.push(member)
      } while (member !== node)
      const selfImport = (graph.get(node) ?? []).includes(node)
      if (component.length > 1 || selfImport) circles.push(component)
    }
  }
}

/** One concrete circle inside a component, for the message: a shortest path back to the start. */
function oneCircle(component) {
  const members = new Set(component)
  const start = [...component].sort()[0]
  const previous = new Map([[start, undefined]])
  const queue = [start]
  while (queue.length) {
    const node = queue.shift()
    for (const target of graph.get(node) ?? []) {
      if (!members.has(target)) continue
      if (target === start) {
        const pathBack = [node]
        while (previous.get(pathBack[0]) !== undefined) pathBack.unshift(previous.get(pathBack[0]))
        return [...pathBack, start]
      }
      if (!previous.has(target)) {
        previous.set(target, node)
        queue.push(target)
      }
    }
  }
  return [start]
}

const relative = (file) => path.relative(root, file)
if (circles.length) {
  console.error(`import circles: ${circles.length} (each group imports itself through the others)`)
  for (const component of circles) {
    console.error(`\n${component.length} files: ${component.map(relative).sort().join(', ')}`)
    console.error(`  e.g. ${oneCircle(component).map(relative).join(' -> ')}`)
  }
  process.exit(1)
}
process.stdout.write(`import-cycles: ${graph.size} modules, no circle\n`)
