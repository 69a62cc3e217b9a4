import FoundationEssentials
import KubeClient
import KubeWire

/// The leader-election fields of a coordination.k8s.io/v1 Lease's `spec`.
///
/// Candidates compare records for equality to decide whether the holder is alive: a record that
/// has not changed for a whole lease duration (on the candidate's own clock) is expired. So every
/// field a holder touches when it renews takes part in `==`.
struct LeaseRecord: Equatable {
    var holderIdentity: String
    var leaseDurationSeconds: Int64
    var acquireTime: String?
    var renewTime: String?
    var leaseTransitions: Int64

    init(holderIdentity: String, leaseDurationSeconds: Int64, acquireTime: String?, renewTime: String?, leaseTransitions: Int64) {
        self.holderIdentity = holderIdentity
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.leaseTransitions = leaseTransitions
    }

    /// Reads the record of a Lease object; a Lease without a spec reads as unheld.
    init(lease: JSONValue) {
        let spec = lease["spec"]
        holderIdentity = spec?["holderIdentity"]?.stringValue ?? ""
        leaseDurationSeconds = spec?["leaseDurationSeconds"]?.intValue ?? 0
        acquireTime = spec?["acquireTime"]?.stringValue
        renewTime = spec?["renewTime"]?.stringValue
        leaseTransitions = spec?["leaseTransitions"]?.intValue ?? 0
    }

    var spec: JSONValue {
        var spec: JSONValue = [
            "holderIdentity": .string(holderIdentity),
            "leaseDurationSeconds": .int(leaseDurationSeconds),
            "leaseTransitions": .int(leaseTransitions),
        ]
        if let acquireTime { spec["acquireTime"] = .string(acquireTime) }
        if let renewTime { spec["renewTime"] = .string(renewTime) }
        return spec
    }

    /// A new Lease object carrying this record.
    func newLease(namespace: String, name: String) -> JSONValue {
        [
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "spec": spec,
        ]
    }

    /// `lease` (as last read or written, so its resourceVersion makes the PUT conditional) with
    /// this record as its spec. Everything else of the object goes back unchanged.
    func replacingSpec(of lease: JSONValue) -> JSONValue {
        var updated = lease
        updated["spec"] = spec
        return updated
    }
}
