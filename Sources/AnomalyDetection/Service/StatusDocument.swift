// status.json: the current state of every printer, as seed 001's service kept it.
import Foundation
import TelemetryModel

/// Renders `status.json`.
///
/// One object per printer: kind, state, last seen, the latest values, the open alerts with their
/// severity and the model's score; plus the service's counters. `overall` is `critical`,
/// `warning` or `normal` — seed 001's dashboard colours.
///
/// ```json
/// {"updated":"…","printers":{"fdm-01":{"overall":"critical","state":"error","open_alerts":{"hard_failure":"critical"},…}},"counters":{…}}
/// ```
enum StatusDocument {
    static func json(snapshots: [PrinterSnapshot], counters: DetectCounters, alertIDs: [String: String], streamUp: Bool) -> String {
        var printers: [String: Any] = [:]
        for s in snapshots {
            var p: [String: Any] = [
                "kind": s.kind, "records": s.records, "model_fits": s.modelFits,
                "open_alerts": s.openAlerts.mapValues(\.rawValue),
                "overall": s.openAlerts.values.max().map(\.rawValue) ?? "normal",
            ]
            p["state"] = s.state ?? NSNull()
            p["last_seen"] = s.lastSeen?.rfc3339 ?? NSNull()
            var channels: [String: Any] = [:]
            for (k, v) in s.channels { channels[k] = v.isFinite ? v : NSNull() }
            p["channels"] = channels
            if let score = s.modelScore, score.isFinite { p["model_score"] = score }
            if let threshold = s.modelThreshold, threshold.isFinite { p["model_threshold"] = threshold }
            printers[s.machineID.rawValue] = p
        }
        let document: [String: Any] = [
            "updated": Timestamp(nanoseconds: Int64(Date().timeIntervalSince1970 * 1e9)).rfc3339,
            "printers": printers,
            "counters": [
                "records": counters.records, "raised": counters.raised, "updated": counters.updated,
                "resolved": counters.resolved, "server_errors": counters.serverErrors,
            ],
            "open_alerts": alertIDs.count,
            "stream_connected": streamUp,
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted]) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
