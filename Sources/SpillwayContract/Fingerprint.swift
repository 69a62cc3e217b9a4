import Crypto

/// The content fingerprint of a Secret or ConfigMap: SHA-256 over a canonical encoding of its
/// type, `immutable`, `data` and `binaryData`. The engine keeps this digest instead of each
/// replica's data, and computes it for observed replicas and for the desired replica with this
/// one function, so equal content always gives equal fingerprints.
///
/// Canonical encoding: a version tag, then each field as length-prefixed bytes (8-byte
/// big-endian lengths), map entries sorted by the key's UTF-8 bytes. Length prefixes make the
/// encoding unambiguous (no two contents encode the same).
public enum Fingerprint {
    public static func of(_ payload: Payload) -> String {
        // Computed for every replica a write answers: no intermediate arrays.
        var hasher = SHA256()
        func putLength(_ count: Int) {
            withUnsafeBytes(of: UInt64(count).bigEndian) { hasher.update(bufferPointer: $0) }
        }
        func put(_ bytes: [UInt8]) {
            putLength(bytes.count)
            bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        }
        func put(_ text: String) {
            var text = text
            text.withUTF8 { utf8 in
                putLength(utf8.count)
                hasher.update(bufferPointer: UnsafeRawBufferPointer(utf8))
            }
        }
        func put(_ map: [String: [UInt8]]) {
            let keys = map.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            putLength(keys.count)
            for key in keys {
                put(key)
                put(map[key]!)
            }
        }
        put("spillway-fingerprint-v1")
        put(payload.secretType ?? "")
        put(payload.secretType == nil ? [0] : [1])
        put(payload.immutable ? [1] : [0])
        put(payload.data)
        put(payload.binaryData)
        let digest = hasher.finalize()
        let prefix = "sha256:"
        return String(unsafeUninitializedCapacity: prefix.utf8.count + 64) { out in
            var i = 0
            for b in prefix.utf8 {
                out[i] = b
                i += 1
            }
            for byte in digest {
                out[i] = hexDigits[Int(byte >> 4)]
                out[i + 1] = hexDigits[Int(byte & 0xf)]
                i += 2
            }
            return i
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
