/**
 * Exclude patterns, rsync/gitignore style: a pattern without "/" matches any single name in the tree
 * (`.git*`, `*.tmp`); a pattern with "/" matches the whole relative path (`logs/**`). `*` and `?` stay
 * within a name, `**` crosses folders, `[…]` is a character class.
 */
export function globToRegExp(pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++
        if (pattern[i + 1] === '/') { i++; re += '(?:.*/)?' } else re += '.*'
      } else re += '[^/]*'
    } else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2)
      if (close < 0) re += '\\['
      else {
        const body = pattern.slice(i + 1, close).replace(/\\/g, '\\\\')
        re += '[' + (body.startsWith('!') ? '^' + body.slice(1) : body) + ']'
        i = close
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  return new RegExp('^' + re + '$', 'u')
}

export type Matcher = (relativePath: readonly string[]) => boolean

export function excludeMatcher(patterns: readonly string[]): Matcher {
  const byName = patterns.filter((p) => !p.includes('/')).map(globToRegExp)
  const byPath = patterns.filter((p) => p.includes('/')).map((p) => globToRegExp(p.replace(/^\/+|\/+$/g, '')))
  return (path) => {
    const name = path[path.length - 1]!
    const joined = path.join('/')
    return byName.some((r) => r.test(name)) || byPath.some((r) => r.test(joined))
  }
}
