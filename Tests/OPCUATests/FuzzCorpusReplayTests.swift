#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import Testing

@testable import OPCUA

/// Replays the committed libFuzzer corpus of Fuzz/TypeDecoder through the same decode paths as
/// the harness (Fuzz/TypeDecoder/main.swift), so every `swift test` re-checks past findings and
/// the seeds without the fuzzer: each input either fails with BadDecodingError or decodes to a
/// value whose encoding decodes again to the same bytes.
struct FuzzCorpusReplayTests {
    /// The corpus must not go missing (a renamed folder would otherwise make this test vacuous).
    static let minimumFiles = 150

    /// Fuzz/Corpus/TypeDecoder, found from this file's real path (the tests may be a symlink).
    static func corpusDirectory() -> String? {
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(#filePath, &resolved) != nil else { return nil }
        let file = String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var parts = file.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 3 else { return nil }
        parts.removeLast(3) // FuzzCorpusReplayTests.swift, OPCUATests, Tests
        return (parts + ["Fuzz", "Corpus", "TypeDecoder"]).joined(separator: "/")
    }

    /// The regular files of `directory`, sorted, with their bytes.
    static func files(in directory: String) -> [(name: String, bytes: [UInt8])] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted().compactMap { name in
            guard let file = fopen(directory + "/" + name, "rb") else { return nil }
            defer { fclose(file) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = fread(&chunk, 1, chunk.count, file)
                if count <= 0 { break }
                bytes += chunk[0..<count]
            }
            return (name, bytes)
        }
    }

    enum Outcome { case decoded, rejected }

    /// Harness (a)'s check: decode one `T`; on success the re-encoding must decode, use every byte
    /// and encode to the same bytes again.
    static func replay<T: OPCUACodable>(_ type: T.Type, _ input: ByteBuffer, _ name: String) -> Outcome {
        var buffer = input
        let value: T
        do {
            value = try T(decoding: &buffer)
        } catch {
            #expect(error.status == .badDecodingError, "\(name): \(error)")
            return .rejected
        }
        var first = ByteBuffer()
        value.encode(to: &first)
        var again = first
        do {
            let second = try T(decoding: &again)
            #expect(again.readableBytes == 0, "\(name): \(T.self) re-encoding leaves bytes")
            var secondBytes = ByteBuffer()
            second.encode(to: &secondBytes)
            #expect(first == secondBytes, "\(name): \(T.self) re-encoding is not stable")
        } catch {
            Issue.record("\(name): \(T.self) re-encoding does not decode: \(error)")
        }
        #expect(!String(describing: value).isEmpty)
        if let variant = value as? Variant {
            _ = variant.valueRank
            _ = variant.arrayDimensions
        }
        return .decoded
    }

    /// The harness's dispatch: the first byte chooses the type, the rest is its encoding.
    static func replay(_ bytes: [UInt8], _ name: String) -> Outcome? {
        guard let selector = bytes.first else { return nil }
        let input = ByteBuffer(bytes: bytes.dropFirst())
        switch selector % 6 {
        case 0: return replay(Variant.self, input, name)
        case 1: return replay(DataValue.self, input, name)
        case 2: return replay(NodeId.self, input, name)
        case 3: return replay(ExpandedNodeId.self, input, name)
        case 4: return replay(ExtensionObject.self, input, name)
        default: return replay(DiagnosticInfo.self, input, name)
        }
    }

    @Test func corpusReplaysWithoutTrapping() throws {
        let directory = try #require(Self.corpusDirectory())
        let files = Self.files(in: directory)
        #expect(files.count >= Self.minimumFiles, "only \(files.count) files in \(directory)")
        var decoded = 0
        var rejected = 0
        var selectors = Set<UInt8>()
        for file in files {
            switch Self.replay(file.bytes, file.name) {
            case .decoded: decoded += 1
            case .rejected: rejected += 1
            case nil: break
            }
            if let first = file.bytes.first { selectors.insert(first % 6) }
        }
        // The corpus exercises both outcomes and all six types.
        #expect(decoded > 0 && rejected > 0, "decoded \(decoded), rejected \(rejected)")
        #expect(selectors.count == 6)
    }

    @Test func committedCorporaStaySmall() throws {
        let directory = try #require(Self.corpusDirectory())
        let root = String(directory.dropLast("/TypeDecoder".count))
        for harness in ["TypeDecoder", "ChunkDecoder", "RequestSequence"] {
            let files = Self.files(in: root + "/" + harness)
            #expect(files.count <= 200, "\(harness): \(files.count) files")
            #expect(files.reduce(0) { $0 + $1.bytes.count } <= 1_000_000, "\(harness): over 1 MB")
        }
    }

    @Test func replayDistinguishesDecodedFromRejected() {
        // The replay really decodes: a valid Variant decodes, a truncated one is rejected.
        #expect(Self.replay([0x00, 0x06, 0x01, 0x00, 0x00, 0x00], "valid Int32") == .decoded)
        #expect(Self.replay([0x00, 0x06, 0x01, 0x00], "truncated Int32") == .rejected)
        #expect(Self.replay([0x05, 0x40, 0x40], "truncated DiagnosticInfo") == .rejected)
        #expect(Self.replay([], "empty") == nil)
    }
}
