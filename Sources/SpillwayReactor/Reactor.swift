import CSpillwayShims

#if canImport(Glibc)
import Glibc
#endif

/// A failed reactor system call.
public struct ReactorError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What the reactor was doing, e.g. `"watch fd 7"`.
    public let operation: String
    /// The `errno` value.
    public let code: Int32

    public var description: String { "\(operation): \(String(cString: strerror(code)))" }

    init(_ operation: String, negatedErrno: Int32) {
        self.operation = operation
        self.code = -negatedErrno
    }
}

extension Duration {
    /// Whole nanoseconds, rounded towards zero.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// Readiness of an fd, as reported by epoll (level-triggered).
public struct FDEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let read = FDEvents(rawValue: UInt32(SPW_EVENT_READ))
    public static let write = FDEvents(rawValue: UInt32(SPW_EVENT_WRITE))
    /// Always reported, whether asked for or not.
    public static let error = FDEvents(rawValue: UInt32(SPW_EVENT_ERROR))
    /// Always reported, whether asked for or not.
    public static let hangup = FDEvents(rawValue: UInt32(SPW_EVENT_HANGUP))
}

/// A registered fd watch, timer or signal handler. Pass it to ``Reactor/cancel(_:)`` to remove it.
public struct ReactorSource: Hashable, Sendable {
    /// The reactor's id (slot and generation); never reused while the reactor lives.
    public let id: UInt64
}

/// One epoll event loop, confined to the thread that runs it.
///
/// Everything here must be called on the loop's thread (or while no thread runs the loop),
/// except through ``remote``, whose ``ReactorRemote/post(_:)`` and ``ReactorRemote/stop()``
/// work from any thread. Debug builds check this at every call and trap a call from another
/// thread (``assertOnLoopThread(_:file:line:)``, which code confined to the loop uses too). The loop blocks
/// in `epoll_wait` until an fd is ready, a timer is due, a signal arrives or work is posted: an
/// idle reactor costs no CPU.
///
/// Handlers may add or cancel any source (their own included) and stop the loop while it
/// dispatches; a cancelled source's handler is never called again, even for events the kernel
/// already returned in the same batch. Each iteration dispatches fd events, then due timers (in
/// deadline order, ties in the order they were added), then the work queued before it started.
public final class Reactor {
    private let core: ReactorCore
    private var handlers: [UInt64: SourceBox] = [:]

    /// Creates the epoll instance and its wake-up eventfd.
    public init() throws {
        guard let pointer = spw_reactor_create() else {
            throw ReactorError("create reactor", negatedErrno: -errno)
        }
        core = ReactorCore(pointer)
    }

    deinit {
        for id in handlers.keys { spw_reactor_remove(core.pointer, id) }
    }

    var pointer: OpaquePointer { core.pointer }

    /// The current `CLOCK_MONOTONIC` time.
    public var now: MonotonicInstant { .now }

    /// Where the loop reports what fails inside it with no caller to tell (an fd the kernel
    /// refuses to forget, a signalfd broken behind its back, libcurl refusing a socket action).
    /// Called on the loop thread; by default the message goes to stderr. The daemon logs it.
    public var onDiagnostic: (String) -> Void {
        get { core.diagnostic }
        set {
            assertOnLoopThread()
            core.diagnostic = newValue
        }
    }

    /// Traps, in debug builds, when called off the loop's thread while the loop runs: code
    /// confined to the loop says so at its entry points. Free in release builds.
    public func assertOnLoopThread(_ function: StaticString = #function, file: StaticString = #fileID, line: UInt = #line) {
        assert(spw_reactor_on_loop_thread(core.pointer), "\(function) called off the reactor's thread", file: file, line: line)
    }

    /// A handle other threads may use to post work to this loop or stop it.
    public var remote: ReactorRemote { ReactorRemote(core: core) }

    // MARK: fd watches

    /// Calls `handler` whenever `fd` is ready for `events` (level-triggered: again on every
    /// iteration while it stays ready). The caller owns `fd`; cancel the watch before closing it.
    @discardableResult
    public func watch(fd: Int32, events: FDEvents, handler: @escaping (FDEvents) -> Void) throws -> ReactorSource {
        assertOnLoopThread()
        let box = SourceBox(.fd(handler))
        var id: UInt64 = 0
        let rc = spw_reactor_add_fd(pointer, fd, events.rawValue, { _, id, _, events, context in
            let box = Unmanaged<SourceBox>.fromOpaque(context!).takeUnretainedValue()
            withExtendedLifetime(box) {
                if case .fd(let handler) = box.kind { handler(FDEvents(rawValue: events)) }
            }
        }, Unmanaged.passUnretained(box).toOpaque(), &id)
        guard rc == 0 else { throw ReactorError("watch fd \(fd)", negatedErrno: rc) }
        return register(id, box)
    }

    /// Changes the events a watch waits for. Asking for the events it already has costs nothing.
    public func modify(_ source: ReactorSource, events: FDEvents) throws {
        assertOnLoopThread()
        let rc = spw_reactor_modify_fd(pointer, source.id, events.rawValue)
        guard rc == 0 else { throw ReactorError("modify watch", negatedErrno: rc) }
    }

    /// How many times a watch's events have been changed in the kernel (one `epoll_ctl` each),
    /// whether through ``modify(_:events:)`` or libcurl's sockets.
    public var watchModifications: UInt64 {
        assertOnLoopThread()
        return spw_reactor_fd_modifications(pointer)
    }

    // MARK: timers

    /// Calls `handler` at `deadline`, and then every `interval` if one is given (missed ticks are
    /// skipped, not bunched).
    @discardableResult
    public func addTimer(at deadline: MonotonicInstant, repeating interval: Duration? = nil,
                         handler: @escaping () -> Void) throws -> ReactorSource {
        assertOnLoopThread()
        let period = interval.map { UInt64(max($0.nanoseconds, 1)) } ?? 0
        let box = SourceBox(period == 0 ? .oneShotTimer(handler) : .repeatingTimer(handler))
        var id: UInt64 = 0
        let rc = spw_reactor_add_timer(pointer, deadline.nanoseconds, period, { _, id, context in
            let box = Unmanaged<SourceBox>.fromOpaque(context!).takeUnretainedValue()
            withExtendedLifetime(box) {
                switch box.kind {
                case .oneShotTimer(let handler):
                    box.owner?.handlers[id] = nil // the C side forgot it before calling
                    handler()
                case .repeatingTimer(let handler):
                    handler()
                default:
                    break
                }
            }
        }, Unmanaged.passUnretained(box).toOpaque(), &id)
        guard rc == 0 else { throw ReactorError("add timer", negatedErrno: rc) }
        return register(id, box)
    }

    /// Calls `handler` after `delay`, and then every `interval` if one is given.
    @discardableResult
    public func addTimer(after delay: Duration, repeating interval: Duration? = nil,
                         handler: @escaping () -> Void) throws -> ReactorSource {
        try addTimer(at: now + delay, repeating: interval, handler: handler)
    }

    /// Moves a pending timer to a new deadline (cheaper than cancel and add: an idle detector
    /// can push its deadline on every byte received). Returns false if the timer already fired
    /// (one-shot) or was cancelled.
    @discardableResult
    public func rearm(_ timer: ReactorSource, at deadline: MonotonicInstant) -> Bool {
        assertOnLoopThread()
        return spw_reactor_rearm_timer(pointer, timer.id, deadline.nanoseconds) == 0
    }

    // MARK: signals

    /// Delivers `signal` to `handler` through the loop (signalfd). The signal must be blocked in
    /// every thread, see ``Reactor/blockSignals(_:)``; otherwise the kernel delivers it the
    /// ordinary way (for SIGTERM: the process dies).
    @discardableResult
    public func onSignal(_ signal: Int32, handler: @escaping (Int32) -> Void) throws -> ReactorSource {
        assertOnLoopThread()
        let box = SourceBox(.signal(handler))
        var id: UInt64 = 0
        let rc = spw_reactor_add_signal(pointer, signal, { _, _, signo, context in
            let box = Unmanaged<SourceBox>.fromOpaque(context!).takeUnretainedValue()
            withExtendedLifetime(box) {
                if case .signal(let handler) = box.kind { handler(signo) }
            }
        }, Unmanaged.passUnretained(box).toOpaque(), &id)
        guard rc == 0 else { throw ReactorError("handle signal \(signal)", negatedErrno: rc) }
        return register(id, box)
    }

    /// Blocks `signals` in the calling thread, which every thread it creates afterwards inherits.
    /// A daemon calls this first thing in `main`, before any thread exists (a Dispatch or
    /// Foundation call may start one), so that the signals reach the process only through the
    /// reactor. Children spawned later inherit the mask too: reset it when spawning them.
    public static func blockSignals(_ signals: [Int32]) throws {
        let rc = signals.withUnsafeBufferPointer { spw_block_signals($0.baseAddress, Int32($0.count)) }
        guard rc == 0 else { throw ReactorError("block signals \(signals)", negatedErrno: rc) }
    }

    // MARK: removal

    /// Removes a watch, timer or signal handler; its handler is never called again. Cancelling a
    /// source twice, or a one-shot timer that already fired, does nothing.
    public func cancel(_ source: ReactorSource) {
        assertOnLoopThread()
        guard handlers.removeValue(forKey: source.id) != nil else { return }
        spw_reactor_remove(pointer, source.id)
    }

    // MARK: work

    /// Runs `work` on this loop after the current dispatch (at the end of this iteration, or of
    /// the next one if the loop is idle), in the order queued.
    public func runSoon(_ work: @escaping () -> Void) {
        assertOnLoopThread()
        core.post(TaskBox(work))
    }

    // MARK: running

    /// Runs the loop until ``stop()`` (or ``ReactorRemote/stop()``).
    public func run() throws {
        let rc = spw_reactor_run(pointer)
        guard rc == 0 else { throw ReactorError("epoll_wait", negatedErrno: rc) }
    }

    /// Runs one iteration, waiting at most `timeout` (nil: until something happens).
    /// Returns the number of handlers called.
    @discardableResult
    public func runOnce(timeout: Duration? = nil) throws -> Int {
        let ms = timeout.map { Int32(clamping: ($0.nanoseconds + 999_999) / 1_000_000) } ?? -1
        let rc = spw_reactor_run_once(pointer, ms)
        guard rc >= 0 else { throw ReactorError("epoll_wait", negatedErrno: rc) }
        return Int(rc)
    }

    /// Makes ``run()`` return once the current iteration has finished (or the next ``run()``
    /// return at once, if the loop is not running).
    public func stop() {
        core.stop()
    }

    private func register(_ id: UInt64, _ box: SourceBox) -> ReactorSource {
        box.owner = self
        handlers[id] = box
        return ReactorSource(id: id)
    }
}

/// The thread-safe face of a ``Reactor``: post work to it or stop it from any thread.
/// Keeps the underlying loop's memory alive, so it may outlive the ``Reactor``; work posted
/// after the reactor is gone is released without running.
public struct ReactorRemote: Sendable {
    fileprivate let core: ReactorCore

    /// Runs `work` on the loop's thread soon, in posting order.
    public func post(_ work: @escaping @Sendable () -> Void) {
        core.post(TaskBox(work))
    }

    /// Makes the loop's ``Reactor/run()`` return after its current iteration.
    public func stop() {
        core.stop()
    }
}

/// Owns the C reactor. Only the thread-safe C calls (post, stop) are made through it from other
/// threads, which is what makes the unchecked Sendable sound.
private final class ReactorCore: @unchecked Sendable {
    let pointer: OpaquePointer
    /// Loop thread only (the C reactor calls it there).
    var diagnostic: (String) -> Void = { message in
        let line = Array("spillway reactor: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
        spw_reactor_set_diagnostic(pointer, { context, message in
            let core = Unmanaged<ReactorCore>.fromOpaque(context!).takeUnretainedValue()
            core.diagnostic(String(cString: message!))
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { spw_reactor_destroy(pointer) }

    func stop() {
        let rc = spw_reactor_stop(pointer)
        // Only a broken eventfd refuses a write: the loop could then never be stopped.
        precondition(rc == 0, "reactor: cannot wake the loop to stop it: \(ReactorError("stop", negatedErrno: rc))")
    }

    func post(_ task: TaskBox) {
        let context = Unmanaged.passRetained(task).toOpaque()
        let rc = spw_reactor_post(pointer, { context, discarded in
            let task = Unmanaged<TaskBox>.fromOpaque(context!).takeRetainedValue()
            if !discarded { task.work() }
        }, context)
        if rc != 0 {
            // ENOMEM, or a broken eventfd: the work cannot be queued, and running it here would
            // break the guarantee that it runs on the loop thread. Crash loudly rather than lose
            // it quietly.
            Unmanaged<TaskBox>.fromOpaque(context).release()
            fatalError("reactor: cannot queue work: \(ReactorError("post", negatedErrno: rc))")
        }
    }
}

private final class TaskBox {
    let work: () -> Void
    init(_ work: @escaping () -> Void) { self.work = work }
}

private final class SourceBox {
    enum Kind {
        case fd((FDEvents) -> Void)
        case oneShotTimer(() -> Void)
        case repeatingTimer(() -> Void)
        case signal((Int32) -> Void)
    }

    let kind: Kind
    weak var owner: Reactor?

    init(_ kind: Kind) { self.kind = kind }
}
