import {
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql'
import type { Config } from '../config.js'

// Limits on the shape of a document, enforced as validation rules: they run on every
// document however it arrived (string, JSON syntax tree, persisted query), and their
// verdict is cached by mercurius with the document, so they cost nothing on repeats.
// Their purpose is that one request cannot stand for many: aliases and root fields
// would multiply guesses, depth and directives would multiply work.

const refuse = (ctx: ValidationContext, message: string, node?: { loc?: unknown }) =>
  ctx.reportError(new GraphQLError(message, node ? { nodes: node as never } : {}))

/** At most `max` aliased fields in the whole document, `__typename` included. */
export const maxAliasesRule =
  (max: number): ValidationRule =>
  (ctx): ASTVisitor => {
    let aliases = 0
    return {
      Field(node) {
        if (node.alias && ++aliases === max + 1) refuse(ctx, `A request may use at most ${max} aliases.`, node)
      },
    }
  }

/** At most `max` directives in the whole document. */
export const maxDirectivesRule =
  (max: number): ValidationRule =>
  (ctx): ASTVisitor => {
    let directives = 0
    return {
      Directive(node) {
        if (++directives === max + 1) refuse(ctx, `A request may use at most ${max} directives.`, node)
      },
    }
  }

/**
 * Root fields per operation, fragments included: at most `maxMutations` for a mutation
 * (each one an attempt at something rate limited), `maxFields` for anything else.
 */
export const maxRootFieldsRule =
  (maxMutations: number, maxFields: number): ValidationRule =>
  (ctx): ASTVisitor => {
    const fragments = fragmentsOf(ctx)
    return {
      OperationDefinition(node) {
        const max = node.operation === 'mutation' ? maxMutations : maxFields
        const count = countRootFields(node.selectionSet, fragments, new Set())
        if (count > max) {
          refuse(ctx, `A ${node.operation} may select at most ${max} root field${max === 1 ? '' : 's'}; this one selects ${count}.`, node)
        }
      },
    }
  }

/** Nesting of selections, following fragment spreads, at most `max`. */
export const maxDepthRule =
  (max: number): ValidationRule =>
  (ctx): ASTVisitor => {
    const fragments = fragmentsOf(ctx)
    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet, fragments, new Set(), max)
        if (depth > max) refuse(ctx, `A request may nest selections at most ${max} deep.`, node)
      },
    }
  }

function fragmentsOf(ctx: ValidationContext): Map<string, FragmentDefinitionNode> {
  const map = new Map<string, FragmentDefinitionNode>()
  for (const def of ctx.getDocument().definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) map.set(def.name.value, def)
  }
  return map
}

// `seen` guards against fragment cycles: they are invalid, but all rules run together,
// so this one must not loop before the cycle rule reports them.
function countRootFields(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen: Set<string>): number {
  let n = 0
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) n += 1
    else if (sel.kind === Kind.INLINE_FRAGMENT) n += countRootFields(sel.selectionSet, fragments, seen)
    else {
      const f = fragments.get(sel.name.value)
      if (f && !seen.has(f.name.value)) n += countRootFields(f.selectionSet, fragments, new Set([...seen, f.name.value]))
    }
  }
  return n
}

function depthOf(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen: Set<string>, max: number): number {
  let deepest = 0
  for (const sel of set.selections) {
    let d = 0
    if (sel.kind === Kind.FIELD) d = sel.selectionSet ? 1 + depthOf(sel.selectionSet, fragments, seen, max) : 1
    else if (sel.kind === Kind.INLINE_FRAGMENT) d = depthOf(sel.selectionSet, fragments, seen, max)
    else {
      const f = fragments.get(sel.name.value)
      if (f && !seen.has(f.name.value)) d = depthOf(f.selectionSet, fragments, new Set([...seen, f.name.value]), max)
    }
    deepest = Math.max(deepest, d)
    // Past the limit the answer is known; stop walking a hostile document.
    if (deepest > max) return deepest
  }
  return deepest
}

export function validationRules(
  config: Pick<
    Config,
    | 'NODE_ENV'
    | 'GRAPHQL_MAX_ALIASES'
    | 'GRAPHQL_MAX_DIRECTIVES'
    | 'GRAPHQL_MAX_ROOT_MUTATIONS'
    | 'GRAPHQL_MAX_ROOT_FIELDS'
    | 'GRAPHQL_MAX_DEPTH'
  >,
): ValidationRule[] {
  const rules = [
    maxAliasesRule(config.GRAPHQL_MAX_ALIASES),
    maxDirectivesRule(config.GRAPHQL_MAX_DIRECTIVES),
    maxRootFieldsRule(config.GRAPHQL_MAX_ROOT_MUTATIONS, config.GRAPHQL_MAX_ROOT_FIELDS),
    maxDepthRule(config.GRAPHQL_MAX_DEPTH),
  ]
  // The schema is public in schema.graphql; production still does not serve it to scanners.
  if (config.NODE_ENV === 'production') rules.push(NoSchemaIntrospectionCustomRule)
  return rules
}
