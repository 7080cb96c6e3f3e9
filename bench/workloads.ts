// The benchmarked operations: what each connection sends and what a good answer is.
// An answer counts towards throughput only when its body is the expected data with no
// errors; anything else is counted as bad and reported.

export type WorkloadId = 'W1' | 'W2' | 'W3' | 'W4' | 'W5'

export const documents = {
  CheckMobile: 'query CheckMobile($mobile: String!) { checkMobile(mobile: $mobile) { mobile registered } }',
  Me: 'query Me { me { id mobile nickname createdAt lastLoginAt } }',
  Login: 'mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id } } }',
  RequestImageCaptcha: 'mutation RequestImageCaptcha { requestImageCaptcha { id svg expiresAt } }',
  RefreshToken: 'mutation RefreshToken($token: String) { refreshToken(refreshToken: $token) { accessToken refreshToken } }',
} as const

export type OperationName = keyof typeof documents

export const body = (operationName: OperationName, variables?: Record<string, unknown>) =>
  JSON.stringify({ query: documents[operationName], ...(variables ? { variables } : {}), operationName })

/** What the orchestrator hands the load generator for one workload. */
export interface WorkloadData {
  /** W1: numbers to look up, one per connection (round robin) */
  mobiles?: string[]
  /** W2: access tokens, one per connection (round robin) */
  accessTokens?: string[]
  /** W3: one account per connection, so that no number ever sees two checks at once */
  logins?: { mobile: string; password: string }[]
  /** W5: one refresh-token chain per connection */
  refreshTokens?: string[]
}

/** One connection's requests: a fixed body and headers, or a body built from its state. */
export interface ConnectionPlan {
  headers: Record<string, string>
  /** the next body; called before each request */
  next(): string
  /** true for a good answer; may advance the connection's state */
  check(status: number, text: string): boolean
}

type Json = { data?: Record<string, any> | null; errors?: unknown[] }

const parse = (status: number, text: string): Json | null => {
  if (status !== 200) return null
  try {
    const json = JSON.parse(text) as Json
    return json.errors === undefined && json.data ? json : null
  } catch {
    return null
  }
}

const json = { 'content-type': 'application/json' }
const fixed = (text: string, headers: Record<string, string>, ok: (data: Record<string, any>) => boolean): ConnectionPlan => ({
  headers,
  next: () => text,
  check: (status, raw) => {
    const j = parse(status, raw)
    return j !== null && ok(j.data!)
  },
})

/** The plan of connection `i` of workload `id`. */
export function connectionPlan(id: WorkloadId, i: number, data: WorkloadData): ConnectionPlan {
  const pick = <T>(list: T[] | undefined, what: string): T => {
    if (!list || list.length === 0) throw new Error(`${id} needs ${what}`)
    return list[i % list.length]!
  }
  switch (id) {
    case 'W1': {
      const mobile = pick(data.mobiles, 'mobiles')
      return fixed(body('CheckMobile', { mobile }), json, (d) => typeof d.checkMobile?.registered === 'boolean' && d.checkMobile.mobile?.startsWith('+86'))
    }
    case 'W2': {
      const token = pick(data.accessTokens, 'accessTokens')
      return fixed(body('Me'), { ...json, authorization: `Bearer ${token}` }, (d) => typeof d.me?.id === 'string' && typeof d.me.mobile === 'string')
    }
    case 'W3': {
      if (!data.logins || i >= data.logins.length) throw new Error('W3 needs one account per connection')
      const { mobile, password } = data.logins[i]!
      return fixed(
        body('Login', { input: { method: 'PASSWORD', mobile, password } }),
        json,
        (d) => typeof d.login?.accessToken === 'string' && typeof d.login.refreshToken === 'string',
      )
    }
    case 'W4':
      return fixed(body('RequestImageCaptcha'), json, (d) => typeof d.requestImageCaptcha?.id === 'string' && d.requestImageCaptcha.svg?.startsWith('<svg'))
    case 'W5': {
      if (!data.refreshTokens || i >= data.refreshTokens.length) throw new Error('W5 needs one session per connection')
      // Each connection rotates its own chain: the successor of every answer is the next token sent.
      let token = data.refreshTokens[i]!
      return {
        headers: json,
        next: () => body('RefreshToken', { token }),
        check(status, raw) {
          const next = parse(status, raw)?.data?.refreshToken?.refreshToken
          if (typeof next !== 'string') return false
          token = next
          return true
        },
      }
    }
  }
}
