import type { PrismaClient } from '../../generated/prisma/client.js'

export interface UserRepository {
  /** A number counts as registered while an account that is not deleted holds it. */
  isRegistered(e164: string): Promise<boolean>
}

export function createUserRepository(db: PrismaClient): UserRepository {
  return {
    async isRegistered(mobile) {
      const user = await db.user.findUnique({ where: { mobile }, select: { status: true } })
      return user !== null && user.status !== 'DELETED'
    },
  }
}
