import NIOCore
import StorageEngine
import TelemetryModel

/// JSON shapes of the API's resources (documented in `/openapi.json`).
extension JSONWriter {
    /// A record: id, machine, timestamp (RFC 3339), kind, state, channels (frame statistics
    /// included as `frame_min`…`frame_std`), and the frame when `includeFrame` and present.
    mutating func record(_ r: TelemetryRecord, includeFrame: Bool) {
        beginObject()
        field("id", r.id.description)
        field("machine_id", r.machineID.rawValue)
        field("timestamp", r.timestamp)
        field("timestamp_ns", Int(r.timestamp.nanoseconds))
        field("kind", r.kind)
        field("state", r.state)
        key("channels")
        beginObject()
        for name in r.channels.keys.sorted() {
            field(name, r.channels[name] ?? .nan)
        }
        endObject()
        key("has_frame")
        bool(r.frame != nil || r.frameStatistics != nil)
        if includeFrame, let frame = r.frame {
            key("frame")
            beginObject()
            field("width", frame.width)
            field("height", frame.height)
            key("data")
            floats(frame.values)
            endObject()
        }
        endObject()
    }

    mutating func machine(_ m: TelemetryStore.MachineSummary) {
        beginObject()
        field("id", m.id.rawValue)
        field("kind", m.kind)
        field("first_timestamp", m.firstTimestamp)
        field("last_timestamp", m.lastTimestamp)
        field("record_count", m.recordCount)
        endObject()
    }

    mutating func bucket(_ b: TelemetryStore.SeriesBucket) {
        beginObject()
        field("start", b.start)
        field("count", b.count)
        field("min", b.min)
        field("max", b.max)
        field("mean", b.mean)
        endObject()
    }
}
