import XCTest
@testable import KubeClient

final class ServerURLTests: XCTestCase {
    func testTheServersKubeconfigsNameAreRead() {
        let cases: [(String, String, String, Int?)] = [
            ("https://h:1", "https", "h", 1),
            ("https://h:1/", "https", "h", 1),
            ("http://10.0.0.1", "http", "10.0.0.1", nil),
            ("https://[::1]:6443", "https", "[::1]", 6443),
            ("https://[fd00::1]", "https", "[fd00::1]", nil),
            ("https://api.example.com/prefix/path?x=1#f", "https", "api.example.com", nil),
            ("https://user:pass@h:443", "https", "h", 443),
            ("https://h:", "https", "h", nil),
            ("https://bücher.example:6443", "https", "bücher.example", 6443),
        ]
        for (text, scheme, host, port) in cases {
            let url = ServerURL(text)
            XCTAssertEqual(url, ServerURL(scheme: scheme, host: host, port: port), text)
        }
    }

    func testWhatIsNotAnHTTPURLIsRefused() {
        for text in ["ftp://h", "HTTPS://h", "h:6443", "https:/h", "https://", "https://:6443", "https:///path",
                     "https://h:port", "https://h:65536", "https://h:1:2", "https://[::1", "https://[]:1",
                     "https://[::1]x", "https://h ost", "https://h\n", " https://h"] {
            XCTAssertNil(ServerURL(text), text)
        }
    }

    func testAKubeconfigWithABadServerSaysWhichClusterAndFile() throws {
        let s = try Scratch()
        let path = try s.write("kc", """
            current-context: x
            clusters: [{name: c, cluster: {server: "tcp://h:1"}}]
            contexts: [{name: x, context: {cluster: c}}]
            """)
        XCTAssertThrowsError(try ClientConfiguration.load(kubeconfig: path, context: nil, environment: [:],
                                                          serviceAccountRoot: "/nonexistent")) { error in
            XCTAssertEqual((error as? ConfigurationError)?.message,
                           #"cluster "c" (\#(path)): server "tcp://h:1" is not an http(s) URL"#)
        }
    }
}
