// CoreLocation on a battery budget: significant-change updates and visits
// (arrivals and departures), handed to the core, which decides whether the
// address changed. What to start and when is decided by LocationSharing;
// this only asks, reports the answer, and starts or stops.
import CoreLocation
import MailPresenceUI

final class LocationTracker: NSObject, CLLocationManagerDelegate {
    var onFix: ((Double, Double, Double, Date) -> Void)?
    /// The person answered the request or changed it in Settings.
    var onAccess: ((LocationAccess) -> Void)?
    private let manager = CLLocationManager()

    override init() {
        super.init()
        manager.delegate = self
        manager.allowsBackgroundLocationUpdates = true
        manager.pausesLocationUpdatesAutomatically = true
    }

    var access: LocationAccess {
        switch manager.authorizationStatus {
        case .notDetermined: return .notDetermined
        case .authorizedAlways: return .always
        case .authorizedWhenInUse: return .whenInUse
        default: return .denied // denied, or restricted by the device's owner
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
        case .unchanged: break
        }
    }

    func locationManagerDidChangeAuthorization(_ manager: CLLocationManager) {
        onAccess?(access)
    }

    func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        for l in locations where l.horizontalAccuracy >= 0 {
            onFix?(l.coordinate.latitude, l.coordinate.longitude, l.horizontalAccuracy, l.timestamp)
        }
    }

    func locationManager(_ manager: CLLocationManager, didVisit visit: CLVisit) {
        onFix?(visit.coordinate.latitude, visit.coordinate.longitude, visit.horizontalAccuracy, visit.arrivalDate)
    }
}
