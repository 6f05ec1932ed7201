// The 24-byte file header of spool segments and of the cursor:
// Storage/Format/spool.md#file-header and Storage/Format/README.md#file-header.

import DurableFiles

/// The file header shared with the store (``DurableFileHeader``): magic, version, flags, number, CRC-32C.
struct SpoolFileHeader {
    static let size = 24
    static let version: UInt16 = 1
    /// `SNTRSPL\0`: a spool segment; `number` is its start sequence.
    static let segmentMagic: [UInt8] = Array("SNTRSPL".utf8) + [0]
    /// `SNTRSPC\0`: the spool cursor; `number` is the acknowledged-through sequence.
    static let cursorMagic: [UInt8] = Array("SNTRSPC".utf8) + [0]

    /// Why a header was refused. Damage (short, CRC) and another format (magic, version) differ:
    /// the second header is intact but must not be interpreted by this build.
    enum Problem: Error {
        case short(Int)
        case crcMismatch
        case wrongMagic
        case unsupportedVersion(UInt16)

        var isOtherFormat: Bool {
            switch self {
            case .wrongMagic, .unsupportedVersion: true
            case .short, .crcMismatch: false
            }
        }

        /// "CRC mismatch in the header of segment 0000000000000400", for `what` = "segment …".
        func message(_ what: String) -> String {
            switch self {
            case .short(let n): "\(what) is \(n) bytes, shorter than its \(SpoolFileHeader.size)-byte header"
            case .crcMismatch: "CRC mismatch in the header of \(what)"
            case .wrongMagic: "\(what) has the wrong magic number (another kind of file, or not a Sinter file)"
            case .unsupportedVersion(let v): "\(what) has format version \(v) at offset 8; this build reads version \(SpoolFileHeader.version)"
            }
        }
    }

    /// The 24 bytes of a header with `magic` and `number` (the shared ``DurableFileHeader``).
    static func encode(magic: [UInt8], number: UInt64) -> [UInt8] {
        DurableFileHeader.encode(magic: magic, version: version, number: number)
    }

    /// The `number` of the header at the start of `bytes`, checked in the house order: length,
    /// CRC, magic, version. Flags are ignored.
    static func decode(_ bytes: [UInt8], magic: [UInt8]) -> Result<UInt64, Problem> {
        DurableFileHeader.decode(bytes, magic: magic, version: version).mapError { problem in
            switch problem {
            case .short(let n): .short(n)
            case .crcMismatch: .crcMismatch
            case .wrongMagic: .wrongMagic
            case .unsupportedVersion(let v): .unsupportedVersion(v)
            }
        }
    }
}
