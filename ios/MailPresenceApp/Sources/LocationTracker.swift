// CoreLocation on a battery budget: significant-change updates and visits
// (arrivals and departures), handed to the core, which decides whether the
// address changed. What to start and when is decided by SharingModel; this
// only asks, reports the answer, starts or stops, and opens Settings.
import CoreLocation
import MailPresenceUI
import UIKit

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
