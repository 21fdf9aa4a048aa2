// The location-sharing switch as the core must hear it, and what the app does
// with CoreLocation next. Stopping the location updates alone would keep
// sending the last address with every status change; switching off ends
// sharing in the core, which publishes at once without a place, and no later
// Publish carries one until it is on again. The decisions live here, tested;
// the app maps CLAuthorizationStatus to LocationAccess and carries them out.
import Foundation
import MailPresence

/// What the person allowed for location, in plain names.
public enum LocationAccess: Equatable, Sendable {
    case notDetermined, denied, whenInUse, always
}

/// What the app does next for the switch.
public enum SharingAction: Equatable, Sendable {
    /// Ask for location access; hand the answer to `accessChanged`.
    case requestAccess
    /// Deliver location updates to the core.
    case startUpdates
    /// No more updates.
    case stopUpdates
    /// Wait (the answer is still to come).
    case unchanged
}

public struct SharingStep: Equatable, Sendable {
    public let action: SharingAction
    /// A sentence for the screen, when sharing went off by itself.
    public let message: String?
}

public enum LocationSharing {
    /// Turns sharing on or off in the core (and publishes).
    public static func set(_ on: Bool, client: PresenceClient, nowUnix: Int64 = Int64(Date().timeIntervalSince1970)) async throws {
        try await client.setLocationSharing(untilUnix: on ? nil : nowUnix, workingHours: nil, shareCoordinates: false)
    }

    /// The switch moved: the core first, then what to do with CoreLocation.
    public static func switched(_ on: Bool, access: LocationAccess, client: PresenceClient, _ lang: Lang) async throws -> SharingStep {
        try await set(on, client: client)
        guard on else { return SharingStep(action: .stopUpdates, message: nil) }
        switch access {
        case .notDetermined: return SharingStep(action: .requestAccess, message: nil)
        case .whenInUse, .always: return SharingStep(action: .startUpdates, message: nil)
        case .denied: return try await deniedSharingOff(client, lang)
        }
    }

    /// The person answered the request (or changed it in Settings).
    public static func accessChanged(_ access: LocationAccess, client: PresenceClient, _ lang: Lang) async throws -> SharingStep {
        guard isOn(client) else { return SharingStep(action: .stopUpdates, message: nil) }
        switch access {
        case .notDetermined: return SharingStep(action: .unchanged, message: nil)
        case .whenInUse, .always: return SharingStep(action: .startUpdates, message: nil)
        case .denied: return try await deniedSharingOff(client, lang)
        }
    }

    /// The app came to the front: updates run on if sharing is on and access
    /// is still granted; otherwise sharing goes off quietly (the switch shows
    /// it), also on a first start, before anyone asked.
    public static func resumed(_ access: LocationAccess, client: PresenceClient) async throws -> SharingAction {
        guard isOn(client) else { return .stopUpdates }
        if access == .whenInUse || access == .always { return .startUpdates }
        try await set(false, client: client)
        return .stopUpdates
    }

    /// What the switch shows: whether the location goes out with Publishes now.
    public static func isOn(_ client: PresenceClient) -> Bool {
        (try? client.isSharingLocation()) ?? false
    }

    /// The own place as the status screen shows it, or that sharing is paused.
    public static func placeLine(_ own: PresenceView, sharing: Bool, _ lang: Lang) -> String {
        if !sharing { return lang == .ja ? "位置情報の共有を停止中" : "Location sharing paused" }
        return own.location ?? (lang == .ja ? "位置情報なし" : "No location shared")
    }

    private static func deniedSharingOff(_ client: PresenceClient, _ lang: Lang) async throws -> SharingStep {
        try await set(false, client: client)
        let text = lang == .ja
            ? "位置情報の利用が許可されていないため、位置情報の共有をオフにしました。設定アプリで許可できます。"
            : "Location access was not allowed, so location sharing is off. You can allow it in Settings."
        return SharingStep(action: .stopUpdates, message: text)
    }
}
