import NIOCore

/// Gathers the bytes HTTP/2 writes between two flushes into one buffer, so TLS seals them as
/// one record rather than a record per frame.
///
/// This is what a real API server puts on the wire: Go's HTTP/2 server writes its frames through
/// a buffered writer and hands TLS the whole buffer at each flush, so a response's HEADERS and
/// DATA, and a burst of watch events, arrive as one record. Without it, NIO's TLS handler seals
/// each frame on its own; a client (OpenSSL, as libcurl uses it) then reads every record with
/// two recv() calls, its header and its body, which made a replica written against the emulator
/// cost the daemon 10 recv() calls where a real kube-apiserver costs it 2.
///
/// A write of `directThreshold` bytes or more (a list page) is not copied: what is gathered goes
/// first, then that write as it is.
final class WriteCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let directThreshold = 16 * 1024

    private var gathered: ByteBuffer?
    private var promise: EventLoopPromise<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        if buffer.readableBytes >= Self.directThreshold {
            forwardGathered(context)
            context.write(data, promise: promise)
            return
        }
        if gathered == nil {
            gathered = context.channel.allocator.buffer(capacity: max(buffer.readableBytes, 1024))
        }
        gathered!.writeImmutableBuffer(buffer)
        if let promise {
            if let held = self.promise { held.futureResult.cascade(to: promise) } else { self.promise = promise }
        }
    }

    func flush(context: ChannelHandlerContext) {
        forwardGathered(context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        forwardGathered(context)
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        forwardGathered(context)
    }

    /// Passes on what was gathered, in order, as one write.
    private func forwardGathered(_ context: ChannelHandlerContext) {
        guard let buffer = gathered else { return }
        let promise = self.promise
        gathered = nil
        self.promise = nil
        context.write(wrapOutboundOut(buffer), promise: promise)
    }
}
