/**
 * A connection URL fit for logs: scheme, user, host, port and database, never the
 * password or query parameters (which may carry one, e.g. `?password=`).
 */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url)
    const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : ''
    return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}`
  } catch {
    return '(unparseable database URL)'
  }
}
