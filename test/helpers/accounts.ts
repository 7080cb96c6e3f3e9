import { e164, freshMobile, SEND_SMS, type TestApp } from './app.js'

export const AUTH_FIELDS = `accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt user { id mobile nickname avatarUrl createdAt lastLoginAt }`
export const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { ${AUTH_FIELDS} } }`
export const LOGIN = `mutation Login($input: LoginInput!) { login(input: $input) { ${AUTH_FIELDS} } }`
export const REFRESH = `mutation Refresh($token: String, $delivery: RefreshTokenDelivery) { refreshToken(refreshToken: $token, delivery: $delivery) { ${AUTH_FIELDS} } }`
export const LOGOUT = `mutation Logout($all: Boolean) { logout(allDevices: $all) }`
export const ME = `query { me { id mobile nickname lastLoginAt } }`
export const RESET = `mutation Reset($input: ResetPasswordInput!) { resetPassword(input: $input) { ${AUTH_FIELDS} } }`
export const CHANGE = `mutation Change($input: ChangePasswordInput!) { changePassword(input: $input) }`

export const PASSWORD = 'Correct-Horse-7-Battery'

export interface Payload {
  accessToken: string
  accessTokenExpiresAt: string
  refreshToken: string | null
  refreshTokenExpiresAt: string
  user: { id: string; mobile: string; nickname: string; avatarUrl: string | null; createdAt: string; lastLoginAt: string | null }
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Asks for a code the way a client does (captcha first) and reads it from the outbox. */
export async function requestCode(h: TestApp, local: string, purpose: 'REGISTER' | 'LOGIN' | 'RESET_PASSWORD') {
  const res = await h.gql(SEND_SMS, { input: { mobile: local, purpose, ...(await h.captcha()) } })
  if (res.body.errors) throw new Error(`sendSmsCode failed: ${JSON.stringify(res.body.errors)}`)
  // The next send for this number must not meet the resend cooldown.
  const code = await h.lastCode(e164(local), purpose)
  h.clock.advance(61_000)
  return code!
}

export async function signUp(h: TestApp, options: { local?: string; password?: string; nickname?: string } = {}) {
  const local = options.local ?? freshMobile()
  const smsCode = await requestCode(h, local, 'REGISTER')
  const res = await h.gql<{ register: Payload }>(REGISTER, {
    input: { mobile: local, smsCode, password: options.password ?? PASSWORD, nickname: options.nickname },
  })
  if (!res.body.data?.register) throw new Error(`register failed: ${JSON.stringify(res.body.errors)}`)
  return { local, mobile: e164(local), ...res.body.data.register }
}

export async function loginWithPassword(h: TestApp, local: string, password = PASSWORD, extra: Record<string, unknown> = {}) {
  return h.gql<{ login: Payload }>(LOGIN, { input: { method: 'PASSWORD', mobile: local, password, ...extra } })
}

export async function me(h: TestApp, accessToken: string) {
  return h.gql<{ me: { id: string; mobile: string } | null }>(ME, {}, bearer(accessToken))
}

export const codeOf = (res: { body: { errors?: { extensions: Record<string, any> }[] } }) => res.body.errors?.[0]?.extensions.code
