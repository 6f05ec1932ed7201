// Isolation Forest (Liu, Ting and Zhou, ICDM 2008), built the way scikit-learn's IsolationForest
// builds its ExtraTreeRegressor trees, with the forest stored as one flat array of nodes.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An Isolation Forest: an unsupervised anomaly score for rows of numeric features.
///
/// Each of `trees` trees is grown on ψ rows drawn without replacement (ψ = `sampleSize`, or all
/// rows if there are fewer). A node picks a feature uniformly at random among the features that
/// are not constant in the node, and a split value uniformly in [min, max) of that feature over
/// the node's rows; rows with `value <= split` go left. A node becomes a leaf when it holds one
/// row, when every feature is constant in it, or at the height limit ⌈log₂ ψ⌉, and records how
/// many rows reached it. A row's path length in a tree is the depth of the leaf it lands in plus
/// ``averagePathLength(_:)`` of that leaf's row count, and its score is
/// s(x, ψ) = 2^(−E[h(x)] / c(ψ)): about 0.5 or less for ordinary rows, close to 1 for rows that
/// are isolated after few splits.
///
/// This follows scikit-learn's `IsolationForest` (its `score_samples` negated) detail for detail,
/// including the splitter's rule that a feature whose range in a node is at most
/// ``constantFeatureTolerance`` counts as constant, and a score of 0.5 when ψ = 1. Only the
/// random streams differ (this uses ``SeededGenerator``, and `Double` rather than `Float` values),
/// so scores agree with scikit-learn's in distribution, and closely for large forests, not bit for
/// bit. The forest is an immutable value (flat arrays), safe to share between tasks.
///
/// ```swift
/// var configuration = IsolationForest.Configuration()
/// configuration.trees = 200
/// configuration.seed = 7
/// let forest = try IsolationForest(training: rows, configuration: configuration)
/// let s = forest.score([0.3, 12.5, 1.0])        // e.g. 0.43: ordinary
/// let all = forest.scores(rows)                 // one score per row
/// ```
public struct IsolationForest: Sendable {
    /// How to grow the forest: number of trees, subsample size and seed.
    ///
    /// The defaults are the paper's (and scikit-learn's): 100 trees of ψ = 256 rows each.
    ///
    /// ```swift
    /// var configuration = IsolationForest.Configuration()
    /// configuration.trees = 500
    /// let same = IsolationForest.Configuration(trees: 500)
    /// ```
    public struct Configuration: Sendable {
        /// Number of trees (t in the paper). Default 100.
        public var trees: Int = 100
        /// Subsample size ψ per tree, drawn without replacement; min(ψ, rows) is used. Default 256.
        public var sampleSize: Int = 256
        /// Seed of the generator that draws subsamples, features and split values.
        public var seed: UInt64 = 0

        /// The defaults: 100 trees, ψ = 256, seed 0.
        ///
        /// ```swift
        /// let configuration = IsolationForest.Configuration()
        /// ```
        public init() {}

        /// A configuration with the given number of trees, subsample size and seed.
        ///
        /// Values are checked when the forest is fitted, not here.
        ///
        /// ```swift
        /// let configuration = IsolationForest.Configuration(trees: 2000, seed: 3)
        /// ```
        public init(trees: Int, sampleSize: Int = 256, seed: UInt64 = 0) {
            self.trees = trees
            self.sampleSize = sampleSize
            self.seed = seed
        }
    }

    /// A feature whose values in a node span at most this much is treated as constant there
    /// (scikit-learn's `FEATURE_THRESHOLD`).
    ///
    /// Features measured on a tiny scale (a spread of 1e-7 or less) are therefore never split on;
    /// standardise such features before fitting.
    ///
    /// ```swift
    /// IsolationForest.constantFeatureTolerance   // 1e-7
    /// ```
    public static let constantFeatureTolerance = 1e-7

    /// One node of a tree. A leaf has `feature == -1`; `size` is how many subsample rows reached
    /// the node while the tree was grown.
    struct Node: Sendable {
        var feature: Int32
        var size: Int32
        var left: Int32
        var right: Int32
        var threshold: Double
    }

    /// Number of values a row must have.
    public let featureCount: Int
    /// The configuration the forest was fitted with.
    public let configuration: Configuration
    /// The subsample size ψ actually used: min(`sampleSize`, number of training rows).
    public let subsampleSize: Int
    /// The height limit of every tree, ⌈log₂ max(ψ, 2)⌉.
    public let heightLimit: Int

    /// Every tree's nodes, one tree after another; children indices are global.
    let nodes: [Node]
    /// Index in `nodes` of each tree's root.
    let roots: [Int32]
    /// c(n) for n in 0...ψ: the path length a leaf holding n rows adds.
    let leafCorrection: [Double]
    /// c(ψ), the normaliser of the mean path length.
    let normalizer: Double

    /// Number of nodes in the whole forest (leaves and splits).
    ///
    /// ```swift
    /// let perTree = Double(forest.nodeCount) / Double(forest.configuration.trees)
    /// ```
    public var nodeCount: Int { nodes.count }

    /// Fits a forest to `rows`, which must all have the same, non-zero number of finite values.
    ///
    /// Throws `DetectionError(.invalidArgument, …)` for no rows, rows of different widths, rows
    /// of zero width, a NaN or infinite value, `trees < 1` or `sampleSize < 2`; the message names
    /// the problem ("row 17 has 29 values, expected 30"). Rows are numbered from 0 in messages
    /// (`row 17` is `rows[17]`). Fitting is deterministic: the same rows and configuration give
    /// the same forest on every platform.
    ///
    /// ```swift
    /// let forest = try IsolationForest(training: [[1, 2], [1.5, 2.2], [0.9, 1.8], [8, -3]])
    /// ```
    public init(training rows: [[Double]], configuration: Configuration = Configuration()) throws(DetectionError) {
        guard configuration.trees >= 1 else {
            throw DetectionError(.invalidArgument, "trees must be at least 1, got \(configuration.trees)")
        }
        guard configuration.sampleSize >= 2 else {
            throw DetectionError(.invalidArgument, "sampleSize must be at least 2, got \(configuration.sampleSize)")
        }
        guard let first = rows.first else {
            throw DetectionError(.invalidArgument, "no training rows")
        }
        let width = first.count
        guard width > 0 else {
            throw DetectionError(.invalidArgument, "training rows have no values (row 0 is empty)")
        }
        guard width <= Int(Int32.max) else {
            throw DetectionError(.invalidArgument, "rows have \(width) values, at most \(Int32.max) are supported")
        }
        for (index, row) in rows.enumerated() {
            guard row.count == width else {
                throw DetectionError(.invalidArgument, "row \(index) has \(row.count) values, expected \(width)")
            }
            if let column = row.firstIndex(where: { !$0.isFinite }) {
                throw DetectionError(
                    .invalidArgument, "row \(index) value \(column) is \(row[column]), expected a finite number")
            }
        }
        let psi = min(configuration.sampleSize, rows.count)
        // A tree has at most 2ψ − 1 nodes; node indices are Int32.
        guard configuration.trees <= (Int(Int32.max) - 1) / (2 * psi - 1) else {
            throw DetectionError(
                .invalidArgument,
                "\(configuration.trees) trees of \(psi) rows are too many nodes; use fewer trees or a smaller sampleSize")
        }

        var limit = 0
        while (1 << limit) < max(psi, 2) { limit += 1 }

        self.featureCount = width
        self.configuration = configuration
        self.subsampleSize = psi
        self.heightLimit = limit
        self.leafCorrection = (0...psi).map(Self.averagePathLength)
        self.normalizer = Self.averagePathLength(psi)

        var matrix: [Double] = []
        matrix.reserveCapacity(rows.count * width)
        for row in rows { matrix.append(contentsOf: row) }

        var generator = SeededGenerator(seed: configuration.seed)
        var nodes: [Node] = []
        var roots: [Int32] = []
        roots.reserveCapacity(configuration.trees)
        // A permutation of all row indices; its first ψ entries are a tree's subsample.
        var population = Array(0..<rows.count)
        var sample = [Int](repeating: 0, count: psi)
        // A permutation of the feature indices; a node draws from a prefix of it.
        var candidates = Array(0..<width)
        var stack: [Pending] = []

        matrix.withUnsafeBufferPointer { x in
            for _ in 0..<configuration.trees {
                // Partial Fisher–Yates: a uniformly random ψ-subset, without replacement.
                for i in 0..<psi {
                    let j = i + generator.nextInt(below: rows.count - i)
                    population.swapAt(i, j)
                    sample[i] = population[i]
                }
                roots.append(Int32(nodes.count))
                sample.withUnsafeMutableBufferPointer { sample in
                    candidates.withUnsafeMutableBufferPointer { candidates in
                        Self.growTree(
                            x: x, width: width, sample: sample, candidates: candidates, heightLimit: limit,
                            generator: &generator, nodes: &nodes, stack: &stack)
                    }
                }
            }
        }
        self.nodes = nodes
        self.roots = roots
    }

    /// A node waiting to be split or made a leaf: its index and its rows `sample[start..<end]`.
    private struct Pending {
        var node: Int
        var start: Int
        var end: Int
        var depth: Int
    }

    /// Grows one tree over the rows in `sample` (indices into the row-major matrix `x`),
    /// appending its nodes, root first, to `nodes`. Reorders `sample` and `candidates`.
    private static func growTree(
        x: UnsafeBufferPointer<Double>, width: Int, sample: UnsafeMutableBufferPointer<Int>,
        candidates: UnsafeMutableBufferPointer<Int>, heightLimit: Int,
        generator: inout SeededGenerator, nodes: inout [Node], stack: inout [Pending]
    ) {
        nodes.append(Node(feature: -1, size: Int32(sample.count), left: -1, right: -1, threshold: 0))
        stack.append(Pending(node: nodes.count - 1, start: 0, end: sample.count, depth: 0))
        while let pending = stack.popLast() {
            let start = pending.start, end = pending.end
            guard end - start > 1, pending.depth < heightLimit else { continue }  // stays a leaf

            // Draw features uniformly among those not yet found constant in this node; a constant
            // one is moved past the end of the live prefix and another is drawn (scikit-learn's
            // random splitter with max_features = 1 does the same).
            var live = width
            var chosen = -1, low = 0.0, high = 0.0
            while live > 0 {
                let k = generator.nextInt(below: live)
                let feature = candidates[k]
                var lo = x[sample[start] * width + feature], hi = lo
                for i in (start + 1)..<end {
                    let value = x[sample[i] * width + feature]
                    if value < lo { lo = value } else if value > hi { hi = value }
                }
                if hi <= lo + constantFeatureTolerance {
                    live -= 1
                    candidates.swapAt(k, live)
                    continue
                }
                chosen = feature
                low = lo
                high = hi
                break
            }
            guard chosen >= 0 else { continue }  // every feature constant: a leaf

            var threshold = low + (high - low) * generator.nextDouble()
            if threshold >= high { threshold = low }  // rounding reached max; scikit-learn uses min

            // Partition: rows with value <= threshold first. Both sides are non-empty because
            // low <= threshold < high.
            var i = start, j = end - 1
            while i <= j {
                if x[sample[i] * width + chosen] <= threshold {
                    i += 1
                } else {
                    sample.swapAt(i, j)
                    j -= 1
                }
            }
            let middle = i

            let left = nodes.count
            nodes.append(Node(feature: -1, size: Int32(middle - start), left: -1, right: -1, threshold: 0))
            nodes.append(Node(feature: -1, size: Int32(end - middle), left: -1, right: -1, threshold: 0))
            nodes[pending.node].feature = Int32(chosen)
            nodes[pending.node].threshold = threshold
            nodes[pending.node].left = Int32(left)
            nodes[pending.node].right = Int32(left + 1)
            // Depth first, left subtree first.
            stack.append(Pending(node: left + 1, start: middle, end: end, depth: pending.depth + 1))
            stack.append(Pending(node: left, start: start, end: middle, depth: pending.depth + 1))
        }
    }

    /// The anomaly score s(x, ψ) = 2^(−E[h(x)]/c(ψ)) of one row, in (0, 1]: about 0.5 or below
    /// is normal, near 1 isolated.
    ///
    /// A row whose length is not ``featureCount``, or that contains a NaN, scores `.nan` (it
    /// cannot be placed in the trees). Infinite values are allowed and go to the outermost side of
    /// every split. When ψ = 1 every row scores 0.5, as in scikit-learn.
    ///
    /// ```swift
    /// let s = forest.score([5.1, 3.5, 1.4])
    /// if s > 0.6 { print("unusual row, score \(s)") }
    /// ```
    public func score(_ row: [Double]) -> Double {
        guard row.count == featureCount, !row.contains(where: \.isNaN) else { return .nan }
        let total = row.withUnsafeBufferPointer { x in
            nodes.withUnsafeBufferPointer { nodes in
                leafCorrection.withUnsafeBufferPointer { correction in
                    var total = 0.0
                    for root in roots {
                        var index = Int(root)
                        var depth = 0
                        while true {
                            let node = nodes[index]
                            if node.feature < 0 {
                                total += Double(depth) + correction[Int(node.size)]
                                break
                            }
                            index = Int(x[Int(node.feature)] <= node.threshold ? node.left : node.right)
                            depth += 1
                        }
                    }
                    return total
                }
            }
        }
        guard normalizer > 0 else { return 0.5 }  // ψ = 1: scikit-learn's 2^(−1)
        return exp2(-total / (Double(roots.count) * normalizer))
    }

    /// The score of every row, in order; see ``score(_:)``.
    ///
    /// ```swift
    /// let scores = forest.scores(rows)
    /// let worst = scores.indices.max { scores[$0] < scores[$1] }
    /// ```
    public func scores(_ rows: [[Double]]) -> [Double] {
        rows.map(score)
    }

    /// c(n), the average path length of an unsuccessful search in a binary search tree of n keys.
    ///
    /// c(0) = c(1) = 0, c(2) = 1, otherwise 2H(n−1) − 2(n−1)/n with the harmonic number
    /// approximated as H(i) = ln(i) + 0.5772156649015329 (Euler's constant), as in the paper and
    /// scikit-learn.
    /// It is the expected depth at which a random binary tree over n points isolates a point, used
    /// both to normalise path lengths and to stand in for the subtree a leaf of n rows would have
    /// grown. Negative `n` gives 0.
    ///
    /// ```swift
    /// IsolationForest.averagePathLength(2)     // 1
    /// IsolationForest.averagePathLength(256)   // ≈ 10.2448
    /// ```
    public static func averagePathLength(_ n: Int) -> Double {
        if n <= 1 { return 0 }
        if n == 2 { return 1 }
        let m = Double(n)
        return 2 * (log(m - 1) + 0.5772156649015329) - 2 * (m - 1) / m
    }
}
