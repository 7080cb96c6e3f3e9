import { isIPv6 } from 'node:net'

/**
 * The address a per-client limit counts against. An IPv6 user typically holds a whole
 * /64, so counting single IPv6 addresses would give each attacker 2^64 budgets; the
 * /64 prefix is the client. IPv4 (also IPv4-mapped IPv6) counts per address.
 */
export function clientKey(ip: string): string {
  if (!isIPv6(ip)) return ip
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped) return mapped[1]!
  const [head = '', tail = ''] = ip.toLowerCase().split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`
}
