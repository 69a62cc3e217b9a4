import CYAML

/// Builds `YAMLNode` trees from libyaml's parser events: one tree per document, aliases
/// replaced by a copy of the node their anchor names, a key written twice in one mapping an
/// error (as Go's YAML reader, and so kubectl, has it).
final class YAMLComposer {
    private var parser = yaml_parser_t()
    private let input: UnsafeMutableBufferPointer<UInt8>
    private var anchors: [String: YAMLNode] = [:]
    /// The event read ahead, when one was peeked.
    private var pending: Event?

    init(_ text: String) {
        // libyaml reads from this buffer until the parser is deleted: a copy the composer owns.
        let bytes = Array(text.utf8)
        input = .allocate(capacity: bytes.count)
        _ = input.initialize(from: bytes)
        yaml_parser_initialize(&parser)
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(&parser, input.baseAddress, input.count)
    }

    deinit {
        yaml_parser_delete(&parser)
        input.deallocate()
    }

    /// Every document of the stream, in order.
    func documents() throws(YAMLError) -> [YAMLNode] {
        var result: [YAMLNode] = []
        guard case .streamStart = try next() else { throw YAMLError(problem: "expected the start of a stream", mark: nil) }
        while true {
            switch try next() {
            case .streamEnd:
                return result
            case .documentStart:
                anchors = [:]
                if case .documentEnd = try peek() {
                    _ = try next()
                    continue
                }
                result.append(try node(try next()))
                guard case .documentEnd = try next() else {
                    throw YAMLError(problem: "expected the end of a document", mark: nil)
                }
            default:
                throw YAMLError(problem: "expected a document", mark: nil)
            }
        }
    }

    // MARK: nodes

    private func node(_ event: Event) throws(YAMLError) -> YAMLNode {
        switch event {
        case .scalar(let scalar, let anchor):
            return remember(.scalar(scalar), as: anchor)
        case .alias(let name, let mark):
            guard let node = anchors[name] else { throw YAMLError(problem: "found undefined alias \"\(name)\"", mark: mark) }
            return node
        case .sequenceStart(let anchor, let mark):
            var items: [YAMLNode] = []
            while true {
                let event = try next()
                if case .sequenceEnd = event { break }
                items.append(try node(event))
            }
            return remember(.sequence(YAMLSequence(items: items, mark: mark)), as: anchor)
        case .mappingStart(let anchor, let mark):
            var entries: [(key: YAMLNode, value: YAMLNode)] = []
            var seen: Set<String> = []
            while true {
                let event = try next()
                if case .mappingEnd = event { break }
                let key = try node(event)
                if case .scalar(let scalar) = key, !YAMLReader.isMergeKey(key), !seen.insert(scalar.string).inserted {
                    throw YAMLError(problem: "mapping key \"\(scalar.string)\" already defined", mark: key.mark)
                }
                entries.append((key, try node(try next())))
            }
            return remember(.mapping(YAMLMapping(entries: entries, mark: mark)), as: anchor)
        default:
            throw YAMLError(problem: "expected a node", mark: nil)
        }
    }

    private func remember(_ node: YAMLNode, as anchor: String?) -> YAMLNode {
        if let anchor { anchors[anchor] = node }
        return node
    }

    // MARK: events

    private enum Event {
        case streamStart, streamEnd, documentStart, documentEnd
        case alias(String, YAMLMark)
        case scalar(YAMLScalar, anchor: String?)
        case sequenceStart(anchor: String?, YAMLMark)
        case sequenceEnd
        case mappingStart(anchor: String?, YAMLMark)
        case mappingEnd
    }

    private func peek() throws(YAMLError) -> Event {
        if let pending { return pending }
        let event = try read()
        pending = event
        return event
    }

    private func next() throws(YAMLError) -> Event {
        if let event = pending {
            pending = nil
            return event
        }
        return try read()
    }

    private func read() throws(YAMLError) -> Event {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) == 1 else {
            let problem = parser.problem.map { String(cString: $0) } ?? "not YAML"
            let mark = parser.problem_mark
            throw YAMLError(problem: problem, mark: YAMLMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1))
        }
        defer { yaml_event_delete(&event) }
        let mark = YAMLMark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        switch event.type {
        case YAML_STREAM_START_EVENT: return .streamStart
        case YAML_STREAM_END_EVENT: return .streamEnd
        case YAML_DOCUMENT_START_EVENT: return .documentStart
        case YAML_DOCUMENT_END_EVENT: return .documentEnd
        case YAML_ALIAS_EVENT:
            return .alias(Self.text(event.data.alias.anchor) ?? "", mark)
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
            let style: YAMLScalar.Style = switch s.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: .literal
            case YAML_FOLDED_SCALAR_STYLE: .folded
            default: .plain
            }
            let written = Self.text(s.tag)
            let tag: YAMLTag? = switch written {
            case nil where style == .plain: nil
            case nil, "!": .str
            case let name?: YAMLTag(rawValue: name)
            }
            return .scalar(YAMLScalar(string: value, tag: tag, style: style, mark: mark), anchor: Self.text(s.anchor))
        case YAML_SEQUENCE_START_EVENT:
            return .sequenceStart(anchor: Self.text(event.data.sequence_start.anchor), mark)
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_MAPPING_START_EVENT:
            return .mappingStart(anchor: Self.text(event.data.mapping_start.anchor), mark)
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        default:
            throw YAMLError(problem: "unexpected parser event", mark: mark)
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
