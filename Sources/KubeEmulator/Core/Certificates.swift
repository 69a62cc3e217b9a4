import Crypto
import Foundation
import X509

/// A certificate and its private key, PEM-encoded, ready for a kubeconfig or a TLS stack.
public struct CertificateAndKey: Sendable {
    public var certificatePEM: String
    public var privateKeyPEM: String
}

/// The emulator's certificate authority: made fresh at start, it signs the serving
/// certificate (for 127.0.0.1, ::1 and localhost) and the client certificates tests ask for.
final class CertificateAuthority: Sendable {
    let certificate: Certificate
    let key: P256.Signing.PrivateKey
    let certificatePEM: String

    init() throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("kube-emulator-ca") }
        let now = Date()
        self.key = key
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 10 * 365 * 86400,
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        certificatePEM = try certificate.serializeAsPEM().pemString
    }

    private func issue(subject: DistinguishedName, usage: ExtendedKeyUsage.Usage, names: [GeneralName]) throws -> CertificateAndKey {
        let leafKey = P256.Signing.PrivateKey()
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 365 * 86400,
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([usage])
                AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                if !names.isEmpty { SubjectAlternativeNames(names) }
            },
            issuerPrivateKey: .init(key))
        return CertificateAndKey(certificatePEM: try cert.serializeAsPEM().pemString, privateKeyPEM: leafKey.pemRepresentation)
    }

    func issueServing() throws -> CertificateAndKey {
        try issue(subject: try DistinguishedName { CommonName("kube-apiserver") }, usage: .serverAuth,
                  names: [.dnsName("localhost"), .dnsName("kubernetes.default.svc"),
                          .ipAddress(.init(contentBytes: [127, 0, 0, 1])),
                          .ipAddress(.init(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))])
    }

    /// A client certificate: CN is the user name, O entries the groups (as the apiserver reads them).
    func issueClient(commonName: String, groups: [String]) throws -> CertificateAndKey {
        let subject = try DistinguishedName {
            for g in groups { OrganizationName(g) }
            CommonName(commonName)
        }
        return try issue(subject: subject, usage: .clientAuth, names: [])
    }

    /// The identity a presented client certificate stands for.
    static func identity(fromDER der: [UInt8]) -> Identity? {
        guard let cert = try? Certificate(derEncoded: der) else { return nil }
        var user: String?
        var groups: [String] = []
        for rdn in cert.subject {
            for attr in rdn {
                if attr.type == .RDNAttributeType.commonName { user = attr.value.description }
                if attr.type == .RDNAttributeType.organizationName { groups.append(attr.value.description) }
            }
        }
        guard let user else { return nil }
        return Identity(user: user, groups: groups + ["system:authenticated"])
    }
}
