import Prometheus
import Synchronization

/// The handles of one labelled metric, kept by their label values. A replica written counts in
/// several labelled families, and every API request in one; asking the registry each time
/// builds the metric's descriptor and looks it up under the registry's lock. Here a repeat is
/// one dictionary lookup.
final class MetricFamily<Handle: AnyObject & Sendable>: Sendable {
    private let labelNames: [String]
    private let make: @Sendable ([(String, String)]) -> Handle
    private let handles = Mutex<[[String]: Handle]>([:])

    /// `make` registers the handle for one set of labels (called once per set).
    init(labels: [String], make: @escaping @Sendable ([(String, String)]) -> Handle) {
        labelNames = labels
        self.make = make
    }

    /// The handle for `values`, in the order of the family's label names.
    func callAsFunction(_ values: String...) -> Handle {
        handles.withLock { handles in
            if let handle = handles[values] { return handle }
            let handle = make(Array(zip(labelNames, values)))
            handles[values] = handle
            return handle
        }
    }
}

extension PrometheusCollectorRegistry {
    /// A counter family `spillway_<metric>_<unit>` with `labels`.
    func counterFamily(_ metric: String, unit: String, help: String, labels: [String]) -> MetricFamily<Prometheus.Counter> {
        MetricFamily(labels: labels) { [self] values in
            makeCounter(descriptor: MetricNameDescriptor(namespace: "spillway", metricName: metric, unitName: unit, helpText: help), labels: values)
        }
    }

    /// A duration histogram family `spillway_<metric>_<unit>` with `labels`.
    func durationHistogramFamily(_ metric: String, unit: String, help: String, labels: [String], buckets: [Duration])
        -> MetricFamily<Prometheus.DurationHistogram> {
        MetricFamily(labels: labels) { [self] values in
            makeDurationHistogram(
                descriptor: MetricNameDescriptor(namespace: "spillway", metricName: metric, unitName: unit, helpText: help),
                labels: values, buckets: buckets)
        }
    }
}
