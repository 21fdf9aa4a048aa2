// CoreLocation on a battery budget: significant-change updates and visits
// (arrivals and departures), handed to the core, which decides whether the
// address changed.
import CoreLocation

final class LocationTracker: NSObject, CLLocationManagerDelegate {
    var onFix: ((Double, Double, Double, Date) -> Void)?
    private let manager = CLLocationManager()

    override init() {
        super.init()
        manager.delegate = self
        manager.allowsBackgroundLocationUpdates = true
        manager.pausesLocationUpdatesAutomatically = true
    }

    func start() {
        manager.requestAlwaysAuthorization()
        manager.startMonitoringSignificantLocationChanges()
        manager.startMonitoringVisits()
    }

    func stop() {
        manager.stopMonitoringSignificantLocationChanges()
        manager.stopMonitoringVisits()
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
