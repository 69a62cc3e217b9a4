import XCTest
@testable import KubeClient

/// A kubeconfig's relative file names resolve against the directory of the file that names
/// them, as kubectl resolves them.
final class FilePathTests: XCTestCase {
    func testTheDirectoryOfAFile() {
        XCTAssertEqual(FilePath.directory(of: "/etc/spillway/kubeconfig"), "/etc/spillway")
        XCTAssertEqual(FilePath.directory(of: "/kubeconfig"), "/")
        XCTAssertEqual(FilePath.directory(of: "kubeconfig"), ".")
        XCTAssertEqual(FilePath.directory(of: "conf/kubeconfig"), "conf")
    }

    func testDotsAndEmptyComponentsAreTakenOut() {
        XCTAssertEqual(FilePath.standardized("/etc/spillway/./certs//ca.crt"), "/etc/spillway/certs/ca.crt")
        XCTAssertEqual(FilePath.standardized("/etc/spillway/../pki/ca.crt"), "/etc/pki/ca.crt")
        XCTAssertEqual(FilePath.standardized("/etc/../../ca.crt"), "/ca.crt")
        XCTAssertEqual(FilePath.standardized("/etc/spillway/"), "/etc/spillway")
        XCTAssertEqual(FilePath.standardized("conf/../../ca.crt"), "../ca.crt")
        XCTAssertEqual(FilePath.standardized("./ca.crt"), "ca.crt")
        XCTAssertEqual(FilePath.standardized("/"), "/")
    }
}
