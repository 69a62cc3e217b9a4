import NIOCore
import NIOEmbedded
import XCTest

@testable import KubeEmulator

/// The emulator hands TLS what HTTP/2 wrote between two flushes as one buffer (one record), as a
/// real API server's buffered framer does.
final class WriteCoalescerTests: XCTestCase {
    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(WriteCoalescer())
        return channel
    }

    private func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    private func written(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out.append(String(buffer: b)) }
        return out
    }

    func testFramesWrittenBetweenFlushesLeaveAsOneWriteInOrder() throws {
        let channel = try channel()
        channel.write(buffer("HEADERS"), promise: nil)
        channel.write(buffer("DATA-1"), promise: nil)
        channel.write(buffer("DATA-2"), promise: nil)
        XCTAssertEqual(try written(channel), [], "nothing leaves before the flush")
        channel.flush()
        XCTAssertEqual(try written(channel), ["HEADERSDATA-1DATA-2"])
        channel.writeAndFlush(buffer("PING"), promise: nil)
        XCTAssertEqual(try written(channel), ["PING"])
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testALargeWriteIsPassedOnAsItIsAfterWhatWasGathered() throws {
        let channel = try channel()
        let large = String(repeating: "x", count: WriteCoalescer.directThreshold)
        channel.write(buffer("frame header"), promise: nil)
        channel.write(buffer(large), promise: nil)
        channel.write(buffer("next"), promise: nil)
        channel.flush()
        XCTAssertEqual(try written(channel), ["frame header", large, "next"])
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testEveryWritesPromiseCompletesWithTheGatheredWrite() throws {
        let channel = try channel()
        let first = channel.eventLoop.makePromise(of: Void.self)
        let second = channel.eventLoop.makePromise(of: Void.self)
        var completed = 0
        first.futureResult.whenSuccess { completed += 1 }
        second.futureResult.whenSuccess { completed += 1 }
        channel.write(buffer("a"), promise: first)
        channel.write(buffer("b"), promise: nil)
        channel.write(buffer("c"), promise: second)
        XCTAssertEqual(completed, 0)
        channel.flush()
        channel.embeddedEventLoop.run()
        XCTAssertEqual(completed, 2)
        XCTAssertEqual(try written(channel), ["abc"])
        XCTAssertTrue(try channel.finish().isClean)
    }

    /// What is gathered when the channel closes is passed on before the close, so the transport
    /// fails or sends it as it would without the handler: no write's promise is left hanging.
    func testWhatIsGatheredIsPassedOnBeforeTheClose() throws {
        let channel = EmbeddedChannel()
        let seen = Recorder()
        try channel.pipeline.syncOperations.addHandler(seen)
        try channel.pipeline.syncOperations.addHandler(WriteCoalescer())
        channel.write(buffer("late"), promise: nil)
        XCTAssertEqual(seen.events, [])
        try channel.close().wait()
        XCTAssertEqual(seen.events, ["write late", "close"])
    }
}

/// Records the outbound operations that reach it.
private final class Recorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var events: [String] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        events.append("write " + String(buffer: unwrapOutboundIn(data)))
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        events.append("close")
        context.close(mode: mode, promise: promise)
    }
}
