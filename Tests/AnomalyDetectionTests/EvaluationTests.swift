// Evaluation: metric arithmetic and NAB scoring on hand-made cases, the CSV reader's errors, the
// detector's causality, the evaluate command's output, and the full SKAB protocol on the fixtures.

import AnomalyDetection
import Foundation
import Testing

struct EvaluationTests {
    /// The SKAB copy next to this file.
    static let skabDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/skab").path

    // MARK: Metrics

    @Test func confusionCountsOnAHandMadeCase() {
        // row:        0  1  2  3  4  5  6  7  8  9 10 11
        // actual:     0  0  1  1  1  1  0  0  0  0  0  0
        // predicted:  0  1  1  1  1  0  0  0  1  1  0  0
        // TP = rows 2,3,4 = 3; FN = row 5 = 1; FP = rows 1,8,9 = 3; TN = rows 0,6,7,10,11 = 5.
        // precision = 3/6 = 0.5; recall = 3/4 = 0.75; F1 = 2·3/(2·3+3+1) = 6/10 = 0.6
        //   (= 2·0.5·0.75/(0.5+0.75) = 0.75/1.25 = 0.6); FAR = 3/(3+5) = 0.375; MAR = 1/(1+3) = 0.25.
        let actual = [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0].map { $0 == 1 }
        let predicted = [0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0].map { $0 == 1 }
        let counts = ConfusionCounts(predicted: predicted, actual: actual)
        #expect(counts == ConfusionCounts(tp: 3, fp: 3, tn: 5, fn: 1))
        #expect(counts.total == 12)
        #expect(counts.precision == 0.5)
        #expect(counts.recall == 0.75)
        #expect(abs(counts.f1 - 0.6) < 1e-12)
        #expect(counts.falseAlarmRate == 0.375)
        #expect(counts.missedAlarmRate == 0.25)

        // Pooling adds counts; the rates are recomputed from the sums, not averaged:
        // (3,3,5,1) + (1,0,2,3) = (4,3,7,4): F1 = 8/(8+3+4) = 8/15, FAR = 3/10, MAR = 4/8.
        let pooled = counts + ConfusionCounts(tp: 1, fp: 0, tn: 2, fn: 3)
        #expect(pooled == ConfusionCounts(tp: 4, fp: 3, tn: 7, fn: 4))
        #expect(abs(pooled.f1 - 8.0 / 15.0) < 1e-12)
        #expect(pooled.falseAlarmRate == 0.3)
        #expect(pooled.missedAlarmRate == 0.5)
    }

    @Test func zeroDenominatorsAreZero() {
        // Only normal rows, nothing flagged: every rate is 0/0 except FAR (0/4).
        let quiet = ConfusionCounts(predicted: [false, false, false, false], actual: [false, false, false, false])
        #expect(quiet == ConfusionCounts(tn: 4))
        #expect(quiet.precision == 0 && quiet.recall == 0 && quiet.f1 == 0)
        #expect(quiet.falseAlarmRate == 0 && quiet.missedAlarmRate == 0)
        // Only anomalous rows, none flagged: precision 0/0 = 0, FAR 0/0 = 0, MAR 2/2 = 1.
        let missed = ConfusionCounts(predicted: [false, false], actual: [true, true])
        #expect(missed.precision == 0 && missed.f1 == 0 && missed.falseAlarmRate == 0)
        #expect(missed.missedAlarmRate == 1)
        #expect(ConfusionCounts().f1 == 0)
    }

    // MARK: NAB

    /// 20 rows, one window over rows 5...9 (width W = 5). NAB standard profile: A_TP 1, A_FP −0.11, A_FN −1.
    /// σ(x) = 2/(1 + e^(5x)) − 1; maxTP = σ(−1) = 2/(1 + e^−5) − 1 = 0.98661430.
    /// null = −1 (one missed window), perfect = +1, normalised = 100·(raw + 1)/2.
    static let window = [NABWindow(start: 5, end: 9)]

    static func detections(at rows: [Int]) -> [Bool] {
        (0..<20).map { rows.contains($0) }
    }

    @Test func nabDetectionAtWindowStartIsPerfect() throws {
        // Row 5: position −(9 − 5 + 1)/5 = −1 → σ(−1)/maxTP · A_TP = 1 → raw 1, normalised 100.
        let score = try NABScoring.score(detections: Self.detections(at: [5]), windows: Self.window)
        #expect(abs(score.raw - 1) < 1e-12)
        #expect(score.nullScore == -1 && score.perfectScore == 1)
        #expect(abs((score.normalized ?? .nan) - 100) < 1e-9)
        #expect(score.detectedWindows == 1 && score.falsePositives == 0)
    }

    @Test func nabDetectionAtWindowEndEarnsLess() throws {
        // Row 9: position −(9 − 9 + 1)/5 = −0.2 → σ(−0.2) = 2/(1 + e^−1) − 1 = 0.46211716;
        // / maxTP = 0.46838684 = raw; normalised 100·(1.46838684)/2 = 73.419342.
        let score = try NABScoring.score(detections: Self.detections(at: [9]), windows: Self.window)
        #expect(abs(score.raw - 0.46838684) < 1e-7)
        #expect(abs((score.normalized ?? .nan) - 73.419342) < 1e-5)
        // Only the first detection in a window counts: rows 5 and 9 together score like row 5 alone.
        let both = try NABScoring.score(detections: Self.detections(at: [5, 9]), windows: Self.window)
        #expect(abs(both.raw - 1) < 1e-12)
    }

    @Test func nabFalsePositives() throws {
        // Row 2, before any window: −A_FP · 1 = −0.11; the window is missed: −1. raw −1.11,
        // normalised 100·(−1.11 + 1)/2 = −5.5.
        let early = try NABScoring.score(detections: Self.detections(at: [2]), windows: Self.window)
        #expect(abs(early.raw - -1.11) < 1e-12)
        #expect(abs((early.normalized ?? .nan) - -5.5) < 1e-9)
        #expect(early.falsePositives == 1 && early.detectedWindows == 0)
        // Row 11, after the window: distance |11 − 9|/(W − 1) = 0.5 → σ(0.5) = 2/(1 + e^2.5) − 1
        // = −0.84828364; × 0.11 = −0.09331120. With a detection at row 5: raw 1 − 0.0933112 = 0.9066888.
        let late = try NABScoring.score(detections: Self.detections(at: [5, 11]), windows: Self.window)
        #expect(abs(late.raw - 0.9066888) < 1e-7)
        // Past three window widths (|i − 9|/4 > 3, e.g. far away in a longer series) σ is −1 exactly.
        #expect(NABScoring.scaledSigmoid(3.5) == -1)
        #expect(NABScoring.scaledSigmoid(0) == 0)
    }

    @Test func nabWindowsFromLabelsAndValidation() throws {
        let labels = [false, true, true, false, false, true]
        #expect(NABScoring.windows(labels: labels) == [NABWindow(start: 1, end: 2), NABWindow(start: 5, end: 5)])
        #expect(NABScoring.windows(labels: []) == [])
        #expect(throws: DetectionError.self) {
            try NABScoring.score(detections: [false, false], windows: [NABWindow(start: 1, end: 2)])
        }
        #expect(throws: DetectionError.self) {
            try NABScoring.score(detections: [Bool](repeating: false, count: 9),
                                 windows: [NABWindow(start: 4, end: 6), NABWindow(start: 5, end: 7)])
        }
        // No window: no normalised score (perfect = null).
        let none = try NABScoring.score(detections: [true, false], windows: [])
        #expect(none.normalized == nil)
        #expect(abs(none.raw - -0.11) < 1e-12)
    }

    // MARK: CSV reader

    /// The message of the `DetectionError` `body` throws (nil when it throws nothing, or another error).
    static func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as DetectionError {
            return error.message
        } catch {
            return "unexpected error: \(error)"
        }
    }

    @Test func readerRejectsBadColumnCount() {
        let text = "a;b;anomaly\n1;2;0\n3;4;1\n5;6\n7;8;0\n"
        let message = Self.message { _ = try DelimitedTable.parse(text, name: "valve1/3.csv") }
        #expect(message == "valve1/3.csv line 4: 2 columns, expected 3")
    }

    @Test func readerRejectsNonNumbers() {
        let text = "x,y,label\n1,2,0\n1,abc,1\n"
        let message = Self.message {
            let table = try DelimitedTable.parse(text, name: "t.csv")
            _ = try CSVEvaluation.series(table: table)
        }
        #expect(message == "t.csv line 3 column 'y': not a number: 'abc'")
        let badLabel = Self.message {
            let table = try DelimitedTable.parse("x,label\n1,0\n2,maybe\n", name: "t.csv")
            _ = try CSVEvaluation.series(table: table)
        }
        #expect(badLabel?.hasPrefix("t.csv line 3 column 'label'") == true)
    }

    @Test func readerRejectsTruncatedFile() throws {
        // The first three lines of a SKAB file, cut in the middle of line 3.
        let whole = try String(contentsOfFile: Self.skabDirectory + "/valve1/0.csv", encoding: .utf8)
        let lines = whole.split(whereSeparator: \.isNewline)  // SKAB's files end lines with CRLF
        let cut = lines[0] + "\n" + lines[1] + "\n" + lines[2].prefix(30)
        let message = Self.message { _ = try DelimitedTable.parse(String(cut), name: "valve1/0.csv") }
        #expect(message == "valve1/0.csv line 3: 3 columns, expected 11")
    }

    @Test func readerRejectsEmptyFile() throws {
        #expect(Self.message { _ = try DelimitedTable.parse("", name: "empty.csv") } == "empty.csv: empty file, expected a header line")
        #expect(Self.message { _ = try DelimitedTable.parse("\n\r\n", name: "blank.csv") } == "blank.csv: empty file, expected a header line")
        // Header only: readable, but no data for a series.
        let headerOnly = Self.message {
            _ = try CSVEvaluation.series(table: try DelimitedTable.parse("x;anomaly\n", name: "h.csv"))
        }
        #expect(headerOnly == "h.csv: no data rows after the header")
        // A real empty file on disk, and a missing one.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sinter-empty-\(UInt32.random(in: 0...UInt32.max)).csv").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(Self.message { _ = try DelimitedTable.read(path: path, name: "empty.csv") } == "empty.csv: empty file, expected a header line")
        #expect(Self.message { _ = try DelimitedTable.read(path: path + ".missing", name: "gone.csv") } == "gone.csv: no such file")
    }

    @Test func readerHandlesQuotesCRLFAndSeparators() throws {
        let table = try DelimitedTable.parse("\u{FEFF}\"time\",\"a,b\",label\r\n\"t1\",\"1.5\",0\r\n\r\nt2, 2 ,1\r\n", name: "q.csv")
        #expect(table.header == ["time", "a,b", "label"])
        #expect(table.rows == [["t1", "1.5", "0"], ["t2", " 2 ", "1"]])
        #expect(table.lineNumbers == [2, 4])
        #expect(try table.numbers(column: 1) == [1.5, 2])
        #expect(Self.message { _ = try table.numbers(column: 0) } == "q.csv line 2 column 'time': not a number: 't1'")
        let series = try CSVEvaluation.series(table: table)
        #expect(series.channels == ["a,b"])
        #expect(series.rows == [[1.5], [2]])
        #expect(series.labels == [false, true])
        #expect(series.timestamps == ["t1", "t2"])
        #expect(Self.message { _ = try DelimitedTable.parse("a,b\n\"x,1\n", name: "u.csv") } == "u.csv line 2: unterminated quoted field")
    }

    // MARK: Detector

    @Test func detectorIsCausalAndFlagsAShift() throws {
        // Two noisy channels (a deterministic pseudo-random sequence), a shift of channel 0 from row 300.
        var state: UInt64 = 42
        func noise() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) - 0.5
        }
        let rows = (0..<400).map { i in [noise() + (i >= 300 ? 3 : 0), 0.5 * noise() + 10] }
        let detector = try HotellingWindowDetector(training: Array(rows[..<200]))
        let all = try detector.classify(Array(rows[200...]))
        let prefix = try detector.classify(Array(rows[200..<320]))
        #expect(Array(all.prefix(120)) == prefix)          // decisions never depend on later rows
        #expect(all[..<100].filter { $0 }.count <= 2)       // rows 200..<300: normal
        #expect(all[110...].allSatisfy { $0 })              // rows 310...: shifted by 3 (≈ 10 noise sd)
        #expect(throws: DetectionError.self) { try detector.classify([[1, 2, 3]]) }
        #expect(throws: DetectionError.self) { try HotellingWindowDetector(training: Array(rows[..<5])) }
        #expect(throws: DetectionError.self) {
            try HotellingWindowDetector(training: rows, configuration: .init(alarmCount: 3, alarmWindow: 2))
        }
    }

    // MARK: Command

    /// The message ArgumentParser prints for `arguments`, or nil when they parse and validate.
    static func parseError(_ arguments: [String]) -> String? {
        do {
            _ = try EvaluateCommand.parse(arguments)
            return nil
        } catch {
            return EvaluateCommand.message(for: error)
        }
    }

    @Test func commandReportsFlagErrors() throws {
        #expect(Self.parseError(["--skab", "/nonexistent/skab"]) == "--skab: no such directory '/nonexistent/skab'")
        #expect(Self.parseError(["--csv", "/nonexistent/x.csv"]) == "--csv: no such file '/nonexistent/x.csv'")
        #expect(Self.parseError([]) == "give --skab DIR, --csv FILE or --labels FILE")
        #expect(Self.parseError(["--skab", Self.skabDirectory, "--train-rows", "3"])?.hasPrefix("--train-rows: must be at least 11") == true)
        #expect(Self.parseError(["--skab", Self.skabDirectory, "--json", "/nonexistent/out.json"]) == "--json: no such directory '/nonexistent'")
        #expect(Self.parseError(["--skab", Self.skabDirectory, "--verbose"]) == nil)
        #expect(EvaluateCommand.helpMessage().contains("--train-rows"))
    }

    // MARK: SKAB

    @Test func skabProtocolMeetsTheBar() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let report = try SKAB.evaluate(directory: Self.skabDirectory)
        let elapsed = clock.now - start
        let counts = report.counts
        let lines = EvaluateCommand.lines(report, verbose: false)
        print("SKAB (\(report.files.count) files, \(counts.total) test rows, \(elapsed)): " + lines.joined(separator: ", "))
        #expect(report.files.count == 34)
        #expect(report.files.allSatisfy { $0.trainingRows == 400 })
        #expect(counts.total == 46_806 - 9_405 - 34 * 400)  // all rows of the 34 test files minus training rows
        #expect(counts.f1 >= 0.5)
        #expect(counts.falseAlarmRate <= 0.10)
        #expect(report.nab.windows == 34)
        // Output format: exactly four lines, "F1 0.71", "FAR 7.4 %", "MAR 41.1 %", "NAB 16.1".
        #expect(lines.count == 4)
        #expect(lines[0].wholeMatch(of: /F1 [01]\.\d\d/) != nil)
        #expect(lines[1].wholeMatch(of: /FAR \d+\.\d %/) != nil)
        #expect(lines[2].wholeMatch(of: /MAR \d+\.\d %/) != nil)
        #expect(lines[3].wholeMatch(of: /NAB -?\d+\.\d/) != nil)
        #expect(EvaluateCommand.lines(report, verbose: true).count == 4 + 1 + 34)
    }

    @Test func csvEvaluationOfOneSKABFile() throws {
        // The same file through the generic CSV path (separator, label, timestamp detected;
        // 'changepoint' ignored) gives the same counts as with SKAB's columns named explicitly.
        let path = Self.skabDirectory + "/valve1/3.csv"
        let viaCSV = try CSVEvaluation.evaluate(path: path, name: "valve1/3.csv")
        let table = try DelimitedTable.read(path: path, name: "valve1/3.csv", separator: ";")
        let series = try LabelledSeries(table: table, labelColumn: "anomaly", timestampColumn: "datetime", ignoredColumns: ["changepoint"])
        let viaSKAB = try FileEvaluation(series: series, trainingRows: SKAB.defaultTrainingRows)
        #expect(series.channels.count == 8)
        #expect(viaCSV.files.count == 1)
        #expect(viaCSV.files[0].counts == viaSKAB.counts)
        #expect(viaCSV.files[0].nab == viaSKAB.nab)
    }
}
