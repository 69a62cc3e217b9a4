/// What /readyz answers: ready, or not ready and why (the reason is the 503 body, so `kubectl
/// describe pod` shows it in the probe failure).
public struct Readiness: Equatable, Sendable {
    public var isReady: Bool
    public var reason: String

    public static let ready = Readiness(isReady: true, reason: "ok")

    public static func notReady(_ reason: String) -> Readiness {
        Readiness(isReady: false, reason: reason)
    }
}
