// Outcomes of cache-tests runs, as the suite itself judges them; a helper of scripts/cache_tests.py.
//
//   node cache_tests_count.mjs SUITE_DIR [RESULTS.json ...]
//
// SUITE_DIR is an installed http-cache-tests package. Prints one JSON object:
//   tests:     every test a reverse proxy runs (browser_only ones left out), in suite order:
//              {id, suite, name, kind, depends_on}
//   published: the package's published results (results/index.mjs) except browsers:
//              {name, version, type, outcomes}
//   runs:      {RESULTS.json: outcomes} for each file given (the CLI's output)
// where outcomes maps a test id to what the suite's determineTestResult() makes of it
// (dependencies honoured): pass, fail, optional_fail, yes, no, setup_fail, harness_fail,
// dependency_fail, retry or untested.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [suiteDir, ...resultFiles] = process.argv.slice(2)
const load = async (relative) => import(pathToFileURL(path.join(suiteDir, relative)).href)

const suites = (await load('tests/index.mjs')).default
suites.push((await load('tests/surrogate-control.mjs')).default) // as cli.mjs does
const { determineTestResult } = await load('lib/display.mjs')
const published = (await load('results/index.mjs')).default

// determineTestResult() answers with an entry of display.mjs's (unexported) resultTypes; its
// third element, the console symbol, names it.
const outcomeBySymbol = {
  '-': 'untested',
  '✅': 'pass',
  '⛔️': 'fail',
  '⚠️': 'optional_fail',
  Y: 'yes',
  N: 'no',
  '🔹': 'setup_fail',
  '⁉️': 'harness_fail',
  '⚪️': 'dependency_fail',
  '↻': 'retry'
}

const tests = []
for (const suite of suites) {
  for (const test of suite.tests) {
    if (test.browser_only === true) continue // the CLI skips them too
    tests.push({
      id: test.id,
      suite: suite.id,
      name: test.name,
      kind: test.kind || 'required',
      depends_on: test.depends_on || []
    })
  }
}

function outcomesOf (results) {
  const outcomes = {}
  for (const test of tests) {
    const symbol = determineTestResult(suites, test.id, results)[2]
    const outcome = outcomeBySymbol[symbol]
    if (outcome === undefined) throw new Error(`unknown result symbol ${symbol} for ${test.id}`)
    outcomes[test.id] = outcome
  }
  return outcomes
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'))

const output = { tests, published: [], runs: {} }
for (const entry of published) {
  if (entry.type === 'browser') continue
  const results = readJson(path.join(suiteDir, 'results', entry.file))
  output.published.push({
    name: entry.name,
    version: entry.version,
    type: entry.type,
    outcomes: outcomesOf(results)
  })
}
for (const file of resultFiles) {
  output.runs[file] = outcomesOf(readJson(file))
}
console.log(JSON.stringify(output))
