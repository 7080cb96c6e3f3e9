import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { bindMigrationAwareSqlAdapterFactory, type SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils'
import type { SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm'
import { offlineAdapterFactory } from './adapters.js'

// Prisma's schema engine compiled to WebAssembly. Its package entry imports the
// `.wasm` file as an ES module, which Node 20 only allows behind
// --experimental-wasm-modules, so we do that entry's four lines by hand with the
// JavaScript glue (`schema_engine_bg.js`) the package does export.

type Glue = typeof import('@prisma/schema-engine-wasm/schema_engine_bg')

let loading: Promise<Glue> | undefined

/** Instantiates the module once per process; later calls share it. */
export function loadSchemaEngine(): Promise<Glue> {
  loading ??= instantiate().catch((error: unknown) => {
    loading = undefined
    throw error
  })
  return loading
}

// The compiler's lib has no WebAssembly types without "DOM"; this is the part used.
interface WasmRuntime {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>
}
const wasmRuntime = (globalThis as unknown as { WebAssembly: WasmRuntime }).WebAssembly

async function instantiate(): Promise<Glue> {
  const glueUrl = import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg')
  const glue: Glue = await import('@prisma/schema-engine-wasm/schema_engine_bg')
  const bytes = await readFile(fileURLToPath(new URL('schema_engine_bg.wasm', glueUrl)))
  const imports: Record<string, unknown> = { ...glue }
  for (const [name, fn] of Object.entries(imports)) {
    // The engine arms a timer for every advisory-lock wait (10 s) and never clears
    // it, which would hold a finished script open for those 10 s. Unreferenced, the
    // timers still fire while the engine works; they just keep no process alive.
    if (name.startsWith('__wbg_setTimeout_') && typeof fn === 'function') {
      imports[name] = (...args: unknown[]) => {
        const timer = (fn as (...a: unknown[]) => unknown)(...args)
        ;(timer as { unref?: () => void } | undefined)?.unref?.()
        return timer
      }
    }
  }
  const { instance } = await wasmRuntime.instantiate(bytes, { './schema_engine_bg.js': imports })
  glue.__wbg_set_wasm(instance.exports)
  ;(instance.exports.__wbindgen_start as () => void)()
  return glue
}

export interface EngineLogLine {
  level: string
  message: string
}

/** The engine reports through a callback, one JSON object per line. */
function parseLogLine(line: string): EngineLogLine {
  try {
    const parsed = JSON.parse(line) as { level?: unknown; fields?: { message?: unknown } }
    return {
      level: typeof parsed.level === 'string' ? parsed.level : 'INFO',
      message: typeof parsed.fields?.message === 'string' ? parsed.fields.message : line.trim(),
    }
  } catch {
    return { level: 'INFO', message: line.trim() }
  }
}

/** Starts an engine; the caller frees it. Creating one opens a connection. */
export async function openSchemaEngine(
  factory: SqlMigrationAwareDriverAdapterFactory,
  onLog: (line: EngineLogLine) => void = () => {},
): Promise<SchemaEngine> {
  const { SchemaEngine } = await loadSchemaEngine()
  return SchemaEngine.new(
    { datamodels: undefined },
    (line: string) => onLog(parseLogLine(line)),
    bindMigrationAwareSqlAdapterFactory(factory),
  )
}

export const NO_FILTER: SchemaFilter = { externalTables: [], externalEnums: [] }

/**
 * SQL that turns the `from` datamodel into the `to` datamodel (null means an
 * empty database), or null when they describe the same tables. No database is
 * involved. Only the models, enums and their attributes matter; generators and
 * comments do not.
 */
export async function diffDatamodels(from: string | null, to: string): Promise<string | null> {
  const engine = await openSchemaEngine(offlineAdapterFactory())
  try {
    const result = await engine.diff({
      from: from === null ? { tag: 'empty' } : { tag: 'schemaDatamodel', files: [{ path: 'from.prisma', content: from }] },
      to: { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: to }] },
      script: true,
      exitCode: true,
      filters: NO_FILTER,
    })
    // With exitCode set, 2 means "there is a difference" and 0 means none.
    return result.exitCode === 2 ? (result.stdout ?? '') : null
  } finally {
    engine.free()
  }
}

export type { SchemaEngine }
