import type { Config } from '../../config.js'
import { parseMobile } from '../mobile/mobile.js'
import type { UserRepository } from './user-repository.js'

export interface UserService {
  checkMobile(input: string): Promise<{ mobile: string; registered: boolean }>
}

export function createUserService(deps: { users: UserRepository; config: Pick<Config, 'DEFAULT_REGION'> }): UserService {
  const { users, config } = deps
  return {
    async checkMobile(input) {
      const { e164 } = parseMobile(input, config.DEFAULT_REGION)
      return { mobile: e164, registered: await users.isRegistered(e164) }
    },
  }
}
