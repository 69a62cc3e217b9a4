@testable import KubeEmulator
import KubeWire
import XCTest

final class ListTests: XCTestCase {
    var emu: KubeEmulator!

    override func setUpWithError() throws {
        emu = try KubeEmulator.start(.init(historyLimit: 100, threads: 1))
        for ns in ["a", "b"] { try emu.store.create(.namespace, namespace: "", namespace(ns)) }
        for i in 0..<7 {
            try emu.store.create(.secret, namespace: i % 2 == 0 ? "a" : "b",
                                 secret("s\(i)", i % 2 == 0 ? "a" : "b", labels: ["app": i < 3 ? "web" : "db", "tier": "t\(i % 3)"]))
        }
    }

    override func tearDown() {
        emu.shutdown()
    }

    private func names(_ j: JSONValue) -> [String] {
        j["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } ?? []
    }

    func testPaginationFollowsContinueWithOneResourceVersionAcrossPages() throws {
        var seen: [String] = []
        var cont = ""
        var rvs: Set<String> = []
        repeat {
            let page = try emu.http("GET", "/api/v1/secrets?limit=3" + (cont.isEmpty ? "" : "&continue=\(cont)")).json
            seen += names(page)
            rvs.insert(page["metadata"]?["resourceVersion"]?.stringValue ?? "")
            cont = page["metadata"]?["continue"]?.stringValue ?? ""
            // A write between pages must not show up in this list.
            try emu.store.create(.configMap, namespace: "a", configMap("c\(seen.count)", "a"))
            if seen.count == 3 { try emu.store.delete(.secret, namespace: "b", name: "s5") }
        } while !cont.isEmpty && seen.count < 20
        XCTAssertEqual(seen.sorted(), (0..<7).map { "s\($0)" }.sorted(), "the snapshot of the first page, even though s5 was deleted meanwhile")
        XCTAssertEqual(rvs.count, 1)
    }

    func testFirstPageReportsRemainingItemCount() throws {
        let page = try emu.http("GET", "/api/v1/secrets?limit=2").json
        XCTAssertEqual(page["metadata"]?["remainingItemCount"], 5)
        XCTAssertEqual(names(page), ["s0", "s2"])
    }

    func testExpiredContinueTokenAnswers410() throws {
        let page = try emu.http("GET", "/api/v1/secrets?limit=2").json
        try emu.store.create(.configMap, namespace: "a", configMap("later", "a"))
        emu.faults.compact()
        let r = try emu.http("GET", "/api/v1/secrets?limit=2&continue=\(page["metadata"]?["continue"]?.stringValue ?? "")")
        XCTAssertEqual(r.status, 410)
        XCTAssertEqual(r.json["reason"], "Expired")
        XCTAssertTrue(r.json["message"]?.stringValue?.hasPrefix("The provided continue parameter is too old") ?? false)
    }

    func testContinueWithAResourceVersionIs400() throws {
        let page = try emu.http("GET", "/api/v1/secrets?limit=2").json
        let r = try emu.http("GET", "/api/v1/secrets?limit=2&resourceVersion=5&continue=\(page["metadata"]?["continue"]?.stringValue ?? "")")
        XCTAssertEqual(r.status, 400)
    }

    func testLabelSelectorOperators() throws {
        func q(_ sel: String) throws -> [String] {
            let enc = sel.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? sel
            return names(try emu.http("GET", "/api/v1/secrets?labelSelector=\(enc)").json)
        }
        XCTAssertEqual(try q("app=web"), ["s0", "s2", "s1"])
        XCTAssertEqual(try q("app==web"), ["s0", "s2", "s1"])
        XCTAssertEqual(try q("app!=web"), ["s4", "s6", "s3", "s5"])
        XCTAssertEqual(try q("tier in (t0,t1)"), ["s0", "s4", "s6", "s1", "s3"])
        XCTAssertEqual(try q("tier notin (t0,t1)"), ["s2", "s5"])
        XCTAssertEqual(try q("app"), ["s0", "s2", "s4", "s6", "s1", "s3", "s5"])
        XCTAssertEqual(try q("!app"), [])
        XCTAssertEqual(try q("app=web,tier=t2"), ["s2"])
    }

    func testFieldSelectorOnNameAndNamespace() throws {
        XCTAssertEqual(names(try emu.http("GET", "/api/v1/secrets?fieldSelector=metadata.name%3Ds3").json), ["s3"])
        XCTAssertEqual(names(try emu.http("GET", "/api/v1/secrets?fieldSelector=metadata.namespace%3Db").json), ["s1", "s3", "s5"])
        XCTAssertEqual(names(try emu.http("GET", "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name!%3Ds0").json), ["s2", "s4", "s6"])
    }

    func testMetadataOnlyListAndGet() throws {
        let accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
        let list = try emu.http("GET", "/api/v1/secrets?limit=2", headers: ["Accept": accept]).json
        XCTAssertEqual(list["kind"], "PartialObjectMetadataList")
        XCTAssertEqual(list["apiVersion"], "meta.k8s.io/v1")
        XCTAssertEqual(list["items"]?.arrayValue?.first?["kind"], "PartialObjectMetadata")
        XCTAssertNil(list["items"]?.arrayValue?.first?["data"])
        XCTAssertNotNil(list["metadata"]?["continue"])

        let one = try emu.http("GET", "/api/v1/namespaces/a/secrets/s0",
                               headers: ["Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"]).json
        XCTAssertEqual(one["kind"], "PartialObjectMetadata")
        XCTAssertEqual(one["metadata"]?["labels"]?["app"], "web")
        XCTAssertNil(one["data"])
    }

    func testProtobufAcceptIsAnsweredWithJSON() throws {
        let r = try emu.http("GET", "/api/v1/namespaces/a/secrets/s0", headers: ["Accept": "application/vnd.kubernetes.protobuf,application/json"])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "application/json")
        XCTAssertEqual(r.json["kind"], "Secret")
    }

    func testListAtAFutureResourceVersionIs504TooLarge() throws {
        let r = try emu.http("GET", "/api/v1/secrets?resourceVersion=999999")
        XCTAssertEqual(r.status, 504)
        XCTAssertEqual(r.json["reason"], "Timeout")
        XCTAssertEqual(r.json["details"]?["causes"]?.arrayValue?.first?["reason"], "ResourceVersionTooLarge")
    }

    func testExactResourceVersionListShowsThePastState() throws {
        let before = emu.store.resourceVersion
        try emu.store.delete(.secret, namespace: "a", name: "s0")
        let past = try emu.http("GET", "/api/v1/namespaces/a/secrets?resourceVersion=\(before)&resourceVersionMatch=Exact").json
        XCTAssertEqual(names(past), ["s0", "s2", "s4", "s6"])
        XCTAssertEqual(past["metadata"]?["resourceVersion"]?.stringValue, String(before))
    }
}
