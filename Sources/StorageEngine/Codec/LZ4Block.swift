// Raw LZ4 blocks (no frame, no size prefix) over the system liblz4. Used by block columns and by
// the frame codec's byte-shuffle fallback (Storage/Format/frame-encoding.md).
import CLZ4

/// Raw LZ4 block compression: `LZ4_compress_default` / `LZ4_decompress_safe`, nothing around it.
///
/// The block carries no length: the caller stores the decompressed size next to it and passes
/// it back to ``decompress(_:decompressedSize:into:)``, which fails unless the block decodes to
/// exactly that many bytes.
///
/// ```swift
/// var packed: [UInt8] = []
/// raw.withUnsafeBytes { LZ4Block.compress($0, into: &packed) }
/// var back: [UInt8] = []
/// try packed.withUnsafeBytes { try LZ4Block.decompress($0, decompressedSize: raw.count, into: &back) }
/// ```
package enum LZ4Block {
    /// The largest input liblz4 accepts (`LZ4_MAX_INPUT_SIZE`).
    package static let maximumInputSize = 0x7E00_0000

    /// The most bytes ``compress(_:into:)`` can append for `inputSize` input bytes.
    package static func compressBound(_ inputSize: Int) -> Int {
        precondition(inputSize >= 0 && inputSize <= maximumInputSize, "LZ4 input too large: \(inputSize) bytes")
        return Int(LZ4_compressBound(Int32(inputSize)))
    }

    /// Appends a raw LZ4 block (LZ4_compress_default, no size prefix) of `input` to `output`.
    package static func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        let bound = compressBound(input.count)
        var dummy: UInt8 = 0
        withUnsafeMutablePointer(to: &dummy) { dummyPointer in
            let source = input.baseAddress.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(dummyPointer)
            let block = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
                let written = LZ4_compress_default(
                    source.assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(input.count), Int32(bound))
                precondition(written > 0, "LZ4_compress_default failed for \(input.count) bytes")
                count = Int(written)
            }
            if output.isEmpty { output = block } else { output.append(contentsOf: block) }
        }
    }

    /// Appends exactly `decompressedSize` bytes decoded from `input` (LZ4_decompress_safe) or throws StorageError(.corruptData).
    package static func decompress(_ input: UnsafeRawBufferPointer, decompressedSize: Int,
                                   into output: inout [UInt8]) throws(StorageError) {
        guard decompressedSize >= 0, decompressedSize <= maximumInputSize else {
            throw StorageError(.corruptData, "LZ4 block claims an impossible size of \(decompressedSize) bytes")
        }
        guard input.count > 0, input.count <= Int(Int32.max) else {
            throw StorageError(.corruptData, "LZ4 block of \(input.count) bytes cannot hold \(decompressedSize) bytes")
        }
        var result: Int32 = -1
        // One spare byte so that liblz4 never sees a zero-capacity (possibly nil) destination.
        let block = [UInt8](unsafeUninitializedCapacity: decompressedSize + 1) { buffer, count in
            result = LZ4_decompress_safe(
                input.baseAddress!.assumingMemoryBound(to: CChar.self),
                UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(decompressedSize))
            count = result > 0 ? Int(result) : 0
        }
        guard result >= 0, Int(result) == decompressedSize else {
            throw StorageError(.corruptData,
                               result < 0
                                   ? "LZ4 block of \(input.count) bytes is malformed (expected \(decompressedSize) bytes)"
                                   : "LZ4 block of \(input.count) bytes decodes to \(result) bytes, expected \(decompressedSize)")
        }
        if output.isEmpty { output = block } else { output.append(contentsOf: block) }
    }
}
