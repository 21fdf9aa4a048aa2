// A CoreLocation visit as a fix for the core. CLVisit gives
// `Date.distantPast` for an arrival it did not see and `Date.distantFuture`
// while the visit goes on; neither is a time to publish ("Updated:
// 0001-01-01"). A visit that has ended is where the worker was, not where
// they are: nothing to publish (the next significant change says where).
import Foundation

public enum VisitFix: Equatable, Sendable {
    /// The worker is at the visit's place: hand it to the core with this
    /// time (ms since 1970), or none when the arrival is unknown (the core
    /// takes the time it receives the fix).
    case here(timeUnixMs: Int64?)
    /// The worker has left the place: no fix.
    case left

    public init(arrival: Date, departure: Date) {
        if departure != .distantFuture {
            self = .left
        } else if arrival == .distantPast {
            self = .here(timeUnixMs: nil)
        } else {
            self = .here(timeUnixMs: Int64((arrival.timeIntervalSince1970 * 1000).rounded()))
        }
    }
}
