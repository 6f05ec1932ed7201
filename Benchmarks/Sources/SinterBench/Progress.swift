// A progress bar on stderr (stdout carries only the table).
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One line on stderr, redrawn in place on a terminal (at most 10 times a second) and printed
/// every 5 s otherwise: `[3/7 postgres] ingest ×10  [#######.....]  58%  1,234 frames/s`.
final class ProgressBar: Sendable {
    private struct State {
        var label = ""
        var total = 1
        var done = 0
        var started: UInt64 = 0
        var lastDraw: UInt64 = 0
    }
    private let state = Mutex(State())
    private let tty = isatty(2) != 0
    let enabled: Bool

    init(enabled: Bool = true) { self.enabled = enabled }

    /// Starts a phase of `total` units.
    func begin(_ label: String, total: Int) {
        state.withLock { s in
            s = State(label: label, total: max(1, total), done: 0, started: now(), lastDraw: 0)
            draw(&s, force: true)
        }
    }

    /// Adds `units` to the current phase.
    func advance(_ units: Int = 1) {
        state.withLock { s in
            s.done += units
            draw(&s, force: false)
        }
    }

    /// Ends the phase with a final line (kept on screen).
    func end(_ summary: String) {
        guard enabled else { return }
        state.withLock { s in
            write((tty ? "\r\u{1B}[2K" : "") + "  \(s.label): \(summary)\n")
        }
    }

    private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func draw(_ s: inout State, force: Bool) {
        guard enabled else { return }
        let t = now()
        let interval: UInt64 = tty ? 100_000_000 : 5_000_000_000
        guard force || t - s.lastDraw >= interval || s.done >= s.total else { return }
        s.lastDraw = t
        let fraction = min(1, Double(s.done) / Double(s.total))
        let width = 24
        let filled = Int(fraction * Double(width))
        let seconds = Double(t - s.started) / 1e9
        let rate = seconds > 0 ? Double(s.done) / seconds : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "  \(s.label) [\(bar)] \(Int(fraction * 100))%  \(s.done)/\(s.total)  \(Int(rate))/s  \(String(format: "%.0f", seconds)) s"
        write(tty ? "\r\u{1B}[2K" + line : line + "\n")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
