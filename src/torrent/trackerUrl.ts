import { UserError, ExitCode } from '../errors.js'

/** `host:port` (murder's form) becomes `http://host:port/announce`; a full URL is kept as given. */
export function trackerUrl(spec: string): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(spec) ? spec : `http://${spec}/announce`
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UserError(`invalid tracker "${spec}": expected host:port or an http(s) URL`, ExitCode.usage)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UserError(`invalid tracker "${spec}": only http and https trackers are supported`, ExitCode.usage)
  }
  if (!parsed.port && !/^[a-z]+:\/\//i.test(spec)) throw new UserError(`invalid tracker "${spec}": no port`, ExitCode.usage)
  return url
}
