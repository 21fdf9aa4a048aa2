// CoreLocation on a battery budget: significant-change updates and visits
// (arrivals and departures), handed to the core, which decides whether the
// address changed. What to start and when is decided by SharingModel; this
// only asks, reports the answer, starts or stops, and opens Settings.
//
// Both services deliver in the background and relaunch the app without the
// `location` background mode (only continuous updates need it), so the app
// does not declare it and does not set allowsBackgroundLocationUpdates
// (which raises an exception without that mode).
import CoreLocation
import MailPresenceUI
import UIKit

@MainActor
final class LocationTracker: NSObject, CLLocationManagerDelegate {
    /// A fix: latitude, longitude, accuracy in metres, time in ms since 1970 (nil: now).
    var onFix: ((Double, Double, Double, Int64?) -> Void)?
    /// The person answered the request or changed it in Settings.
    var onAccess: ((LocationAccess) -> Void)?
    private let manager = CLLocationManager()

    override init() {
        super.init()
        // Made on the main thread, so CoreLocation calls the delegate there.
        manager.delegate = self
    }

    /// iOS asks once: after a denial only the Settings app can allow it.
    var access: LocationAccess {
        switch manager.authorizationStatus {
        case .notDetermined: return .notAsked
        case .authorizedAlways, .authorizedWhenInUse: return .granted
        default: return .deniedForGood // denied, or restricted by the device's owner
        }
    }

    func carryOut(_ action: SharingAction) {
        switch action {
        case .requestAccess: manager.requestAlwaysAuthorization()
        case .startUpdates:
            manager.startMonitoringSignificantLocationChanges()
            manager.startMonitoringVisits()
        case .stopUpdates:
            manager.stopMonitoringSignificantLocationChanges()
            manager.stopMonitoringVisits()
        case .openSettings:
            if let url = URL(string: UIApplication.openSettingsURLString) { UIApplication.shared.open(url) }
        case .unchanged: break
        }
    }

    // CoreLocation calls these on the thread that made the manager (main):
    // the values are taken out here, then handed over on the main actor.

    nonisolated func locationManagerDidChangeAuthorization(_ manager: CLLocationManager) {
        MainActor.assumeIsolated { onAccess?(access) }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        let fixes = locations.filter { $0.horizontalAccuracy >= 0 }.map {
            ($0.coordinate.latitude, $0.coordinate.longitude, $0.horizontalAccuracy, Int64(($0.timestamp.timeIntervalSince1970 * 1000).rounded()))
        }
        MainActor.assumeIsolated {
            for (lat, lon, accuracy, time) in fixes { onFix?(lat, lon, accuracy, time) }
        }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didVisit visit: CLVisit) {
        // Unknown arrival (distantPast) or a visit that ended: see VisitFix.
        guard case let .here(time) = VisitFix(arrival: visit.arrivalDate, departure: visit.departureDate) else { return }
        let (lat, lon, accuracy) = (visit.coordinate.latitude, visit.coordinate.longitude, visit.horizontalAccuracy)
        MainActor.assumeIsolated { onFix?(lat, lon, accuracy, time) }
    }
}
