// `sinter-detect evaluate`: score the windowed multivariate detector on a labelled data set
// (SKAB, or any CSV with a label column) and print F1, FAR, MAR and the NAB score, one per line.

public import ArgumentParser
import SinterHTTPClient
import Logging
import Foundation
import TelemetryModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `sinter-detect evaluate`: detection metrics of ``HotellingWindowDetector`` on labelled data.
///
/// With `--skab DIR` it runs the SKAB protocol (fit on each file's first 400 rows, classify the
/// rest, pool the test rows of the 34 files); with `--csv FILE` the same train-then-test run on one
/// file. Standard output is one metric per line, stable for scripts:
///
/// ```
/// F1 0.71
/// FAR 7.4 %
/// MAR 41.1 %
/// NAB 16.1
/// ```
///
/// `--verbose` adds a header line and one line per file before them; `--json PATH` also writes
/// the metrics, counts and per-file results as JSON.
public struct EvaluateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score the anomaly detector on labelled data: F1, false-alarm and missed-alarm rates, NAB score.",
        discussion: """
            The detector (Hotelling's T² of 10-row rolling means, threshold 12 × the 99th percentile \
            of its training scores) is fitted on the first --train-rows rows of each file without \
            their labels, then classifies the remaining rows one by one, each decision using only \
            the rows up to it. Those rows are counted against the labels, anomalous = positive:

              F1   2·TP / (2·TP + FP + FN)
              FAR  false-alarm rate FP / (FP + TN), in %
              MAR  missed-alarm rate FN / (FN + TP), in %
              NAB  Numenta Anomaly Benchmark score, standard profile

            NAB rewards detecting an anomaly window early and charges every flagged row outside \
            the windows: 100 = each window detected at its first row and no false positive, \
            0 = never flagging anything (negative: worse than that). The windows are the runs of \
            consecutive anomalous rows.

            --skab DIR runs the SKAB protocol (Skoltech Anomaly Benchmark, github.com/waico/SKAB): \
            DIR is SKAB's data/ folder (or the repository); each of the 34 files of valve1/, \
            valve2/ and other/ is fitted on its first 400 rows (SKAB's protocol; --train-rows \
            changes it), and the metrics pool the test rows of all files. For reference, scikit-learn's Isolation Forest scores F1 0.29, FAR 2.6 % there.

            --csv FILE evaluates one file with a header line, a label column (non-zero or true = \
            anomalous; 'anomaly' or 'label' unless --label-column names it), an optional timestamp \
            column, and numeric data columns (all the others). The separator (comma, semicolon or \
            tab) is detected from the header.

            Output: one metric per line on standard output; --verbose adds a header line and one \
            line per file; --json PATH also writes everything as JSON. Progress goes to standard \
            error when it is a terminal.

            Examples:
              sinter-detect evaluate --skab SKAB/data
              sinter-detect evaluate --skab SKAB/data --verbose --json skab.json
              sinter-detect evaluate --csv pump.csv --label-column fault --train-rows 1000
            """
    )

    @Option(name: .customLong("skab"), help: ArgumentHelp("Run the SKAB protocol on this directory (SKAB's data/ folder).", valueName: "DIR"))
    var skab: String?

    @Option(name: .customLong("csv"), help: ArgumentHelp("Evaluate this CSV file with a label column.", valueName: "FILE"))
    var csv: String?

    @Option(name: .customLong("train-rows"), parsing: .unconditional, help: ArgumentHelp("Rows the detector is fitted on, per file; the rest are scored.", valueName: "N"))
    var trainRows: Int = 400

    @Option(name: .customLong("label-column"), help: ArgumentHelp("--csv: the label column (default: 'anomaly', else 'label').", valueName: "NAME"))
    var labelColumn: String?

    @Option(name: .customLong("timestamp-column"), help: ArgumentHelp("--csv: a timestamp column to skip (default: 'timestamp', 'datetime', 'time' or 'date' if present).", valueName: "NAME"))
    var timestampColumn: String?

    @Option(name: .customLong("ignore-column"), help: ArgumentHelp("--csv: a column that is not a detector input (repeatable; 'changepoint' is always ignored).", valueName: "NAME"))
    var ignoreColumn: [String] = []

    @Option(name: .customLong("labels"), help: ArgumentHelp("Score the live detector against sinter-sim's fault labels (JSON Lines from sinter-sim --labels); the records are read from --server.", valueName: "FILE"))
    var labels: String?

    @Option(name: .customLong("server"), help: ArgumentHelp("--labels: sinter-server holding the simulated run's records.", valueName: "URL"))
    var server = "http://127.0.0.1:8080"

    @Option(name: .customLong("token"), help: ArgumentHelp("--labels: bearer token for the server (default: $SINTER_TOKEN).", valueName: "TOKEN"))
    var token: String?

    @Option(name: .customLong("json"), help: ArgumentHelp("Also write the metrics and per-file results as JSON to this file.", valueName: "PATH"))
    var json: String?

    @Flag(name: .customLong("verbose"), help: "Print a header line and one line per file before the metrics.")
    var verbose = false

    public init() {}

    public func validate() throws {
        if let labels {
            guard skab == nil, csv == nil else { throw ValidationError("--labels: give only one of --skab, --csv and --labels") }
            guard FileManager.default.isReadableFile(atPath: labels) else { throw ValidationError("--labels: no such file '\(labels)'") }
            guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
                throw ValidationError("--server must be an http:// or https:// URL, got \(server)")
            }
            return
        }
        switch (skab, csv) {
        case (nil, nil):
            throw ValidationError("give --skab DIR, --csv FILE or --labels FILE")
        case (.some, .some):
            throw ValidationError("--skab and --csv: give only one of them")
        case (let directory?, nil):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--skab: no such directory '\(directory)'")
            }
            if labelColumn != nil || timestampColumn != nil || !ignoreColumn.isEmpty {
                throw ValidationError("--label-column, --timestamp-column and --ignore-column apply to --csv only")
            }
        case (nil, let file?):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw ValidationError("--csv: no such file '\(file)'")
            }
        }
        let window = HotellingWindowDetector.Configuration().window
        guard trainRows > window else {
            throw ValidationError("--train-rows: must be at least \(window + 1), the detector's \(window)-row window plus one (got \(trainRows))")
        }
        if let json {
            let parent = (json as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            if !parent.isEmpty, !(FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) && isDirectory.boolValue) {
                throw ValidationError("--json: no such directory '\(parent)'")
            }
        }
    }

    public mutating func run() async throws {
        if let labels {
            for line in try await labelEvaluation(labels).lines { print(line) }
            return
        }
        let report: EvaluationReport
        if let directory = skab {
            let progress = ProgressLine(enabled: isatty(STDERR_FILENO) == 1)
            do throws(DetectionError) {
                report = try SKAB.evaluate(directory: directory, trainingRows: trainRows) { done, total, name in
                    progress.show("evaluating \(name) (\(done + 1)/\(total))")
                }
            } catch {
                progress.clear()
                throw DetectionError(error.code, "--skab: \(error.message)")
            }
            progress.clear()
        } else if let file = csv {
            do throws(DetectionError) {
                report = try CSVEvaluation.evaluate(path: file, name: (file as NSString).lastPathComponent, options: csvOptions())
            } catch {
                throw DetectionError(error.code, "--csv: \(error.message)")
            }
        } else {
            throw ValidationError("give --skab DIR or --csv FILE")
        }

        for line in Self.lines(report, verbose: verbose) { print(line) }
        if let json { try Self.writeJSON(report, to: json) }
    }

    /// `--labels`: read the labels, fetch their printers' records, replay them through the detector.
    func labelEvaluation(_ path: String) async throws -> LabelEvaluation.Report {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("--labels: cannot read '\(path)'") }
        let parsed: LabelEvaluation.Labels
        do throws(DetectionError) { parsed = try LabelEvaluation.Labels(parsing: text) } catch { throw ValidationError("--labels: \(error.message)") }
        let http = SinterClient(configuration: SinterClientConfiguration(
            baseURL: server, token: token ?? ProcessInfo.processInfo.environment["SINTER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }),
            logger: Logger(label: "sinter-detect"))
        let client = DetectorAPI(client: http)
        var records: [String: [TelemetryRecord]] = [:]
        do throws(DetectionError) {
            for machine in parsed.machines.sorted() {
                guard let id = try? MachineID(machine) else { continue }
                var cursor: Timestamp?
                var list: [TelemetryRecord] = []
                while true {
                    let page = try await client.records(machine: id, after: cursor, limit: 1_000)
                    list += page
                    guard page.count == 1_000, let last = page.last?.timestamp else { break }
                    cursor = last
                }
                if !list.isEmpty { records[machine] = list }
                FileHandle.standardError.write(Data("evaluate: \(machine): \(list.count) records\n".utf8))
            }
        } catch {
            await http.shutdown()
            throw ValidationError("--server: \(error.message)")
        }
        await http.shutdown()
        return LabelEvaluation.evaluate(records: records, labels: parsed)
    }

    /// The options of a --csv run.
    func csvOptions() -> CSVEvaluationOptions {
        CSVEvaluationOptions(
            labelColumn: labelColumn,
            timestampColumn: timestampColumn,
            ignoredColumns: ["changepoint"] + ignoreColumn,
            trainingRows: trainRows
        )
    }

    // MARK: Output

    /// The report as `evaluate` prints it: with `verbose`, a header line and one line per file;
    /// then `F1 0.71`, `FAR 7.4 %`, `MAR 41.1 %`, `NAB 16.1` (F1 with two decimals, the rest with one).
    public static func lines(_ report: EvaluationReport, verbose: Bool) -> [String] {
        var lines: [String] = []
        if verbose {
            let c = report.detector
            let testRows = report.files.reduce(0) { $0 + $1.testRows }
            lines.append(
                "\(report.dataSet): \(report.files.count == 1 ? "1 file" : "\(report.files.count) files"), "
                    + "fitted on the first \(report.trainingRows) rows\(report.files.count == 1 ? "" : " of each"), \(testRows) test rows scored; "
                    + "detector: Hotelling T² of \(c.window)-row means, shrinkage \(format(c.shrinkage, 2)), "
                    + "threshold \(format(c.thresholdFactor, 1)) × q\(format(c.thresholdQuantile, 3)), alarm \(c.alarmCount) of \(c.alarmWindow)"
            )
            for file in report.files {
                let k = file.counts
                lines.append(
                    "\(file.name) F1 \(format(k.f1, 2)) FAR \(format(100 * k.falseAlarmRate, 1)) % "
                        + "MAR \(format(100 * k.missedAlarmRate, 1)) % NAB \(nabText(file.nab)) "
                        + "(TP \(k.tp) FP \(k.fp) TN \(k.tn) FN \(k.fn))"
                )
            }
        }
        let counts = report.counts
        lines.append("F1 \(format(counts.f1, 2))")
        lines.append("FAR \(format(100 * counts.falseAlarmRate, 1)) %")
        lines.append("MAR \(format(100 * counts.missedAlarmRate, 1)) %")
        lines.append("NAB \(nabText(report.nab))")
        return lines
    }

    private static func nabText(_ score: NABScore) -> String {
        score.normalized.map { format($0, 1) } ?? "n/a (no anomaly windows)"
    }

    private static func format(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }

    /// The JSON document `--json` writes.
    private struct JSONReport: Encodable {
        struct File: Encodable {
            var name: String
            var testRows: Int
            var f1: Double
            var falseAlarmRate: Double
            var missedAlarmRate: Double
            var nab: Double?
            var counts: ConfusionCounts
        }
        var dataSet: String
        var trainingRows: Int
        var f1: Double
        var falseAlarmRate: Double
        var missedAlarmRate: Double
        var precision: Double
        var recall: Double
        /// Normalised NAB score, standard profile (absent when there is no window).
        var nab: Double?
        var nabScore: NABScore
        var counts: ConfusionCounts
        var detector: HotellingWindowDetector.Configuration
        var files: [File]

        init(_ report: EvaluationReport) {
            let counts = report.counts
            dataSet = report.dataSet
            trainingRows = report.trainingRows
            f1 = counts.f1
            falseAlarmRate = counts.falseAlarmRate
            missedAlarmRate = counts.missedAlarmRate
            precision = counts.precision
            recall = counts.recall
            nab = report.nab.normalized
            nabScore = report.nab
            self.counts = counts
            detector = report.detector
            files = report.files.map {
                File(
                    name: $0.name, testRows: $0.testRows, f1: $0.counts.f1,
                    falseAlarmRate: $0.counts.falseAlarmRate, missedAlarmRate: $0.counts.missedAlarmRate,
                    nab: $0.nab.normalized, counts: $0.counts
                )
            }
        }
    }

    private static func writeJSON(_ report: EvaluationReport, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(JSONReport(report))
        } catch {
            throw DetectionError(.invalidData, "--json: cannot encode the report: \(error)")
        }
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DetectionError(.io, "--json: cannot write '\(path)': \(error.localizedDescription)")
        }
    }
}

/// A one-line progress display on standard error (only when it is a terminal).
private final class ProgressLine {
    private let enabled: Bool
    private var shown = false

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
        shown = true
    }

    func clear() {
        guard enabled, shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        shown = false
    }
}
