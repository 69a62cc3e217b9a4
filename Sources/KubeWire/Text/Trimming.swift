extension StringProtocol {
    /// The text without the spaces and tabs (Unicode whitespace other than line breaks) at
    /// either end: Foundation's `trimmingCharacters(in: .whitespaces)`, for modules that link
    /// FoundationEssentials only.
    public func trimmingWhitespace() -> String {
        trimming { $0.isWhitespace && !$0.isNewline }
    }

    /// The text without whitespace or line breaks at either end: Foundation's
    /// `trimmingCharacters(in: .whitespacesAndNewlines)`.
    public func trimmingWhitespaceAndNewlines() -> String {
        trimming(\.isWhitespace)
    }

    private func trimming(_ drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}
