import type Wire from 'bittorrent-protocol'
import type { ExtensionConstructor } from 'bittorrent-protocol'
import utMetadata from 'ut_metadata'

interface UtMetadataState {
  metadata: Uint8Array
  _metadataComplete: boolean
  _metadataSize: number
}

/**
 * ut_metadata (BEP 9) serving an info dictionary we already hold and trust. Handing the bytes to
 * ut_metadata's constructor makes it decode, re-encode and re-hash the whole dictionary on every connection
 * (hundreds of KB for a tree of thousands of files), so the state it would reach is set directly.
 */
export function metadataServer(infoBytes: Uint8Array): ExtensionConstructor {
  const Base = utMetadata() as unknown as new (wire: Wire) => UtMetadataState
  class Served extends Base {
    constructor(wire: Wire) {
      super(wire)
      this.metadata = infoBytes
      this._metadataComplete = true
      this._metadataSize = infoBytes.length
      wire.extendedHandshake['metadata_size'] = infoBytes.length
    }
  }
  return Served as unknown as ExtensionConstructor
}
