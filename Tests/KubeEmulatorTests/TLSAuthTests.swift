import Foundation
@testable import KubeEmulator
import KubeWire
import XCTest

/// Runs a program and returns its exit status and output (stdout + stderr).
func runProcess(_ exe: String, _ args: [String], env: [String: String] = [:], input: String? = nil) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    var e = ProcessInfo.processInfo.environment
    for (k, v) in env { e[k] = v }
    p.environment = e
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    if let input {
        let inp = Pipe()
        p.standardInput = inp
        inp.fileHandleForWriting.write(Data(input.utf8))
        try inp.fileHandleForWriting.close()
    }
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

struct MissingTool: Error, CustomStringConvertible {
    let path: String
    let hint: String
    var description: String { "\(path) is missing: \(hint)" }
}

/// The path of a tool the test needs; a missing tool fails the test (never a silent skip).
func requireTool(_ path: String, hint: String = "run scripts/setup to install it") throws -> String {
    guard FileManager.default.isExecutableFile(atPath: path) else { throw MissingTool(path: path, hint: hint) }
    return path
}

final class TLSAuthTests: XCTestCase {
    var emu: KubeEmulator!
    var dir: String!

    override func setUpWithError() throws {
        emu = try KubeEmulator.start(.init(
            tls: true,
            tokens: ["reader-token": Identity(user: "reader", groups: ["readers"])],
            authorization: [AccessRule(groups: ["readers"], verbs: ["get", "list", "watch"], resources: ["configmaps"], namespaces: ["default"])],
            threads: 1))
        dir = NSTemporaryDirectory() + "emu-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try emu.caPEM!.write(toFile: dir + "/ca.crt", atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        emu.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func curl(_ args: [String]) throws -> (Int, String, String) {
        let curl = try requireTool("/usr/bin/curl")
        let (status, out) = try runProcess(curl, ["-s", "--cacert", dir + "/ca.crt", "-w", "\n%{http_code} %{http_version}"] + args)
        XCTAssertEqual(status, 0, out)
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        let last = lines.last.map(String.init) ?? ""
        let parts = last.split(separator: " ")
        return (Int(parts.first ?? "") ?? 0, String(parts.last ?? ""), lines.dropLast().joined(separator: "\n"))
    }

    func testServesHTTP2AndHTTP11OverTLSWithTheGeneratedCA() throws {
        let url = emu.baseURL + "/api/v1/namespaces/default/configmaps"
        let (code2, version2, _) = try curl(["--http2", "-H", "Authorization: Bearer \(emu.adminToken)", url])
        XCTAssertEqual(code2, 200)
        XCTAssertEqual(version2, "2")
        let (code1, version1, _) = try curl(["--http1.1", "-H", "Authorization: Bearer \(emu.adminToken)", url])
        XCTAssertEqual(code1, 200)
        XCTAssertEqual(version1, "1.1")
    }

    func testMissingOrWrongCredentialsAre401WithAStatusBody() throws {
        let (code, _, body) = try curl([emu.baseURL + "/api/v1/secrets"])
        XCTAssertEqual(code, 401)
        XCTAssertEqual(try JSONParser.parse(body), [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401,
        ])
        let (code2, _, _) = try curl(["-H", "Authorization: Bearer wrong", emu.baseURL + "/api/v1/secrets"])
        XCTAssertEqual(code2, 401)
    }

    func testAuthorizationTableAllowsAndForbidsWithTheRealMessage() throws {
        let (ok, _, _) = try curl(["-H", "Authorization: Bearer reader-token", emu.baseURL + "/api/v1/namespaces/default/configmaps"])
        XCTAssertEqual(ok, 200)
        let (denied, _, body) = try curl(["-H", "Authorization: Bearer reader-token", emu.baseURL + "/api/v1/namespaces/default/secrets/x"])
        XCTAssertEqual(denied, 403)
        let j = try JSONParser.parse(body)
        XCTAssertEqual(j["message"], "secrets \"x\" is forbidden: User \"reader\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\"")
        XCTAssertEqual(j["reason"], "Forbidden")
        let (cluster, _, body2) = try curl(["-H", "Authorization: Bearer reader-token", emu.baseURL + "/api/v1/configmaps"])
        XCTAssertEqual(cluster, 403)
        XCTAssertEqual(try JSONParser.parse(body2)["message"], "configmaps is forbidden: User \"reader\" cannot list resource \"configmaps\" in API group \"\" at the cluster scope")
    }

    func testClientCertificateIdentityComesFromCNAndOrganization() throws {
        let admin = try emu.issueClientCertificate(commonName: "ops", groups: ["system:masters"])
        try admin.certificatePEM.write(toFile: dir + "/c.crt", atomically: true, encoding: .utf8)
        try admin.privateKeyPEM.write(toFile: dir + "/c.key", atomically: true, encoding: .utf8)
        let (code, _, _) = try curl(["--cert", dir + "/c.crt", "--key", dir + "/c.key", "-X", "POST", "-H", "Content-Type: application/json",
                                     "-d", configMap("from-cert").jsonString, emu.baseURL + "/api/v1/namespaces/default/configmaps"])
        XCTAssertEqual(code, 201)
        XCTAssertEqual(emu.requests.writes.last?.user, "ops", "the write log names the certificate's CN")

        let nobody = try emu.issueClientCertificate(commonName: "nobody")
        try nobody.certificatePEM.write(toFile: dir + "/n.crt", atomically: true, encoding: .utf8)
        try nobody.privateKeyPEM.write(toFile: dir + "/n.key", atomically: true, encoding: .utf8)
        let (denied, _, _) = try curl(["--cert", dir + "/n.crt", "--key", dir + "/n.key", emu.baseURL + "/api/v1/secrets"])
        XCTAssertEqual(denied, 403)
    }

    func testOneHTTP2ConnectionServesHundredsOfCurlRequests() throws {
        // libcurl resets streams it has finished with; a rapid-reset defence that counted those
        // closed the connection after 200 requests and failed the ones in flight.
        let config = dir + "/requests.curlrc"
        let request = "url = \"\(emu.baseURL)/api/v1/namespaces/default/configmaps\"\noutput = \"/dev/null\"\n"
        try String(repeating: request, count: 400).write(toFile: config, atomically: true, encoding: .utf8)
        let curl = try requireTool("/usr/bin/curl")
        let (status, out) = try runProcess(curl, [
            "-s", "--no-progress-meter", "--http2", "--parallel", "--parallel-max", "50", "--cacert", dir + "/ca.crt",
            "-H", "Authorization: Bearer \(emu.adminToken)", "-H", "Content-Type: application/json",
            "--data", #"{"metadata":{"generateName":"c-"},"data":{"a":"b"}}"#, "-w", "%{http_code}\n", "--config", config,
        ])
        XCTAssertEqual(status, 0, out)
        let codes = out.split(separator: "\n")
        XCTAssertEqual(codes.count, 400, out)
        XCTAssertEqual(Set(codes), ["201"], out)
        XCTAssertEqual(emu.store.count(.configMap), 400)
    }

    func testWatchStreamsOverHTTP2() throws {
        try emu.store.create(.configMap, namespace: "default", configMap("c"))
        let (code, version, body) = try curl(["--http2", "-H", "Authorization: Bearer \(emu.adminToken)",
                                              emu.baseURL + "/api/v1/configmaps?watch=1&timeoutSeconds=1"])
        XCTAssertEqual(code, 200)
        XCTAssertEqual(version, "2")
        let first = try JSONParser.parse(String(body.split(separator: "\n").first ?? ""))
        XCTAssertEqual(first["type"], "ADDED")
    }
}
