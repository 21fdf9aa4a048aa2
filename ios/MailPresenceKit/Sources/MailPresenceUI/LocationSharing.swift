// The location-sharing switch as the core must hear it. Stopping the location
// updates alone would keep sending the last address with every status change;
// switching off ends sharing in the core, which publishes at once without a
// place, and no later Publish carries one until it is on again.
import Foundation
import MailPresence

public enum LocationSharing {
    /// Turns sharing on or off in the core (and publishes). The app starts or
    /// stops its location updates beside this.
    public static func set(_ on: Bool, client: PresenceClient, nowUnix: Int64 = Int64(Date().timeIntervalSince1970)) async throws {
        try await client.setLocationSharing(untilUnix: on ? nil : nowUnix, workingHours: nil, shareCoordinates: false)
    }

    /// What the switch shows: whether the location goes out with Publishes now.
    public static func isOn(_ client: PresenceClient) -> Bool {
        (try? client.isSharingLocation()) ?? false
    }

    /// The own place as the status screen shows it, or that sharing is paused.
    public static func placeLine(_ own: Presence, sharing: Bool, _ lang: Lang) -> String {
        if !sharing { return lang == .ja ? "位置情報の共有を停止中" : "Location sharing paused" }
        return own.location ?? (lang == .ja ? "位置情報なし" : "No location shared")
    }
}
