#!/usr/bin/env node
// `prisma generate` without downloading anything: the project's postinstall and
// `npm run db:generate`. Extra arguments are passed through (e.g. `--watch`).
//
// The Prisma 7 CLI fetches the schema-engine binary before `generate` even though
// generating never runs it, and these machines cannot reach Prisma's servers.
// PRISMA_SCHEMA_ENGINE_BINARY, when it names an existing file, stops the download;
// the file must merely exist. We point it at the WebAssembly schema engine that
// src/infra/db/migrate.ts uses, which is always installed. Nothing executes it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))

// `npm ci --omit=dev` has no prisma CLI (a devDependency) but still runs the
// postinstall; the install should not fail for it. Such an image must get
// src/generated from a build stage that had the CLI.
const optional = process.env.npm_lifecycle_event === 'postinstall'

function resolveExisting(label, candidates) {
  for (const candidate of candidates) {
    try {
      const path = candidate()
      if (path && existsSync(path)) return path
    } catch {
      // try the next candidate
    }
  }
  if (optional) {
    console.warn(`prisma-generate: ${label} is not installed; skipping prisma generate`)
    process.exit(0)
  }
  console.error(`prisma-generate: cannot find ${label}; is node_modules installed?`)
  process.exit(1)
}

const prismaCli = resolveExisting('the prisma CLI', [
  () => {
    const manifest = require.resolve('prisma/package.json')
    const { bin } = require(manifest)
    return join(dirname(manifest), typeof bin === 'string' ? bin : bin.prisma)
  },
])

// A placeholder only; see above. Respect an operator's own binary if they set one.
const engineStandIn =
  process.env.PRISMA_SCHEMA_ENGINE_BINARY && existsSync(process.env.PRISMA_SCHEMA_ENGINE_BINARY)
    ? process.env.PRISMA_SCHEMA_ENGINE_BINARY
    : resolveExisting('a stand-in file for PRISMA_SCHEMA_ENGINE_BINARY', [
        // The package does not export its package.json, so resolve its entry point.
        () => join(dirname(fileURLToPath(import.meta.resolve('@prisma/schema-engine-wasm'))), 'schema_engine_bg.wasm'),
        () => join(dirname(prismaCli), 'schema_engine_bg.wasm'),
        () => prismaCli,
      ])

const result = spawnSync(process.execPath, [prismaCli, 'generate', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: engineStandIn,
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    PRISMA_HIDE_PREVIEW_FLAG_WARNINGS: '1',
  },
})

if (result.error) {
  console.error(`prisma-generate: ${result.error.message}`)
  process.exit(1)
}
process.exit(result.status ?? 1)
