// Evaluation of the windowed detector on any CSV with a label column: train on the first rows,
// classify the rest, report F1 / FAR / MAR and the NAB standard score.

/// Where the label, timestamp and data columns of a CSV are, and how to evaluate it.
///
/// ```swift
/// var options = CSVEvaluationOptions()
/// options.labelColumn = "is_anomaly"
/// options.trainingRows = 1000
/// let report = try CSVEvaluation.evaluate(path: "machine-7.csv", options: options)
/// ```
public struct CSVEvaluationOptions: Sendable {
    /// The label column (non-zero or `true` is anomalous). Default nil: `anomaly`, else `label`
    /// (case-insensitive).
    public var labelColumn: String?
    /// A timestamp column, kept as text and not used as a channel. Default nil: a column named
    /// `timestamp`, `datetime`, `time` or `date` if there is one.
    public var timestampColumn: String?
    /// Columns that are neither label nor channel. Default `["changepoint"]` (SKAB's second label
    /// column; using it as a channel would leak the labels). Names missing from the file are ignored.
    public var ignoredColumns: [String]
    /// Rows the detector is fitted on; the rest are classified and scored. Default 400 (SKAB's).
    public var trainingRows: Int
    /// The field separator. Default nil: the most frequent of `,`, `;` and tab in the header.
    public var separator: Character?
    /// The detector's settings. Default: ``HotellingWindowDetector/Configuration/init(window:shrinkage:thresholdQuantile:thresholdFactor:alarmCount:alarmWindow:)``'s defaults.
    public var detector: HotellingWindowDetector.Configuration
    /// Explicit NAB windows as row indices of the whole file (0 = first data row). Default nil: the
    /// windows are the contiguous runs of label 1 among the test rows.
    public var windows: [NABWindow]?

    /// Options with the documented defaults.
    public init(
        labelColumn: String? = nil,
        timestampColumn: String? = nil,
        ignoredColumns: [String] = ["changepoint"],
        trainingRows: Int = 400,
        separator: Character? = nil,
        detector: HotellingWindowDetector.Configuration = .init(),
        windows: [NABWindow]? = nil
    ) {
        self.labelColumn = labelColumn
        self.timestampColumn = timestampColumn
        self.ignoredColumns = ignoredColumns
        self.trainingRows = trainingRows
        self.separator = separator
        self.detector = detector
        self.windows = windows
    }
}

/// Evaluates ``HotellingWindowDetector`` on one labelled CSV file.
///
/// Every column other than the label, the timestamp and the ignored ones must be numeric: it is a
/// channel of the detector. The detector is fitted on the first ``CSVEvaluationOptions/trainingRows``
/// rows without their labels, then classifies the remaining rows in order (causally); the report
/// counts those rows against the labels and scores them with NAB's standard profile, the windows
/// being the runs of consecutive anomalous rows unless given explicitly.
///
/// ```swift
/// let report = try CSVEvaluation.evaluate(path: "valve1/3.csv")
/// print(report.counts.f1, report.nab.normalized ?? 0)
/// ```
public enum CSVEvaluation {
    /// Reads and evaluates the CSV at `path`; errors name it `name` (default: the path).
    public static func evaluate(path: String, name: String? = nil, options: CSVEvaluationOptions = .init()) throws(DetectionError) -> EvaluationReport {
        let table = try DelimitedTable.read(path: path, name: name, separator: options.separator)
        return try evaluate(table: table, options: options)
    }

    /// Evaluates an already parsed table.
    public static func evaluate(table: DelimitedTable, options: CSVEvaluationOptions = .init()) throws(DetectionError) -> EvaluationReport {
        let series = try series(table: table, options: options)
        let result = try FileEvaluation(
            series: series,
            trainingRows: options.trainingRows,
            detector: options.detector,
            windows: options.windows
        )
        return EvaluationReport(dataSet: table.name, trainingRows: options.trainingRows, detector: options.detector, files: [result])
    }

    /// The labelled series in `table` under `options`' column choices.
    public static func series(table: DelimitedTable, options: CSVEvaluationOptions = .init()) throws(DetectionError) -> LabelledSeries {
        let label: String
        if let chosen = options.labelColumn {
            label = chosen
        } else if let found = ["anomaly", "label"].first(where: { table.columnIndex($0) != nil }) {
            label = found
        } else {
            throw DetectionError(.invalidData, "\(table.name): no 'anomaly' or 'label' column; name the label column (columns: \(table.header.joined(separator: ", ")))")
        }
        let timestamp = options.timestampColumn
            ?? ["timestamp", "datetime", "time", "date"].first { table.columnIndex($0) != nil }
        return try LabelledSeries(table: table, labelColumn: label, timestampColumn: timestamp, ignoredColumns: options.ignoredColumns)
    }
}
