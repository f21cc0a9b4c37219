declare module 'simple-sha1' {
  export function sync(data: Uint8Array | string): string
  export default function sha1(data: Uint8Array | string, cb: (hash: string) => void): void
}
