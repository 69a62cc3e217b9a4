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
        var hasher = SHA256()
        func put(_ bytes: [UInt8]) {
            withUnsafeBytes(of: UInt64(bytes.count).bigEndian) { hasher.update(bufferPointer: $0) }
            bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        }
        func put(_ map: [String: [UInt8]]) {
            let entries = map.map { (key: Array($0.key.utf8), value: $0.value) }
                .sorted { $0.key.lexicographicallyPrecedes($1.key) }
            withUnsafeBytes(of: UInt64(entries.count).bigEndian) { hasher.update(bufferPointer: $0) }
            for entry in entries {
                put(entry.key)
                put(entry.value)
            }
        }
        put(Array("spillway-fingerprint-v1".utf8))
        put(Array((payload.secretType ?? "").utf8))
        put(payload.secretType == nil ? [0] : [1])
        put(payload.immutable ? [1] : [0])
        put(payload.data)
        put(payload.binaryData)
        let hex = Array("0123456789abcdef")
        return "sha256:" + String(hasher.finalize().flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 0xf)]] })
    }
}
