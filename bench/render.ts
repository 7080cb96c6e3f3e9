// Renders a report again from a run's raw numbers, e.g. after bench/notes.ts changed:
//   node --import tsx bench/render.ts bench/results/<time>.json > bench/results/latest.md
import { readFileSync } from 'node:fs'
import { renderReport, type Results } from './report.js'
import type { WorkloadId } from './workloads.js'

const file = process.argv[2]
if (!file) throw new Error('usage: node --import tsx bench/render.ts bench/results/<time>.json')
const results = JSON.parse(readFileSync(file, 'utf8')) as Results
const workloads = [...new Set(results.measured.map((m) => m.workload))].sort() as WorkloadId[]
process.stdout.write(renderReport(results, workloads))
