// The location-sharing screen: off until the worker turns it on; the
// platform's permission steps as a state machine (explain → ask → denied →
// denied for good → "open Settings"), the core turned on only once location
// access is granted; the shift hours and "share until" the core keeps; and a
// "sharing now" indicator that follows the core. Stopping CoreLocation alone
// would keep sending the last address with every status change: off ends
// sharing in the core, which publishes at once without the place. The
// decisions live here, tested; the app maps CLAuthorizationStatus to
// LocationAccess, shows the prompts and carries out the actions.
import Foundation
import MailPresence

/// What the platform says of location access, in plain names.
public enum LocationAccess: Equatable, Sendable {
    case granted
    /// Never asked: explain, then ask.
    case notAsked
    /// Turned down, and the platform will ask again (not on iOS).
    case denied
    /// Turned down for good: only the Settings app can allow it now.
    case deniedForGood
}

/// What the app does next.
public enum SharingAction: Equatable, Sendable {
    /// Ask for location access; hand the answer to `answered`.
    case requestAccess
    /// Deliver location updates to the core.
    case startUpdates
    /// No more updates.
    case stopUpdates
    /// Open this app's page in the Settings app.
    case openSettings
    /// Nothing to do (a prompt is shown, or the core refused; the screen says).
    case unchanged
}

/// What the screen shows over the switch while access is sorted out.
public enum SharingPrompt: Equatable, Sendable {
    case none
    /// Why the app asks, before the system's request: Continue / Not now.
    case rationale(String)
    /// Turned down: sharing stays off; switching on again asks again.
    case denied(String)
    /// Turned down for good: the text and the "Open Settings" button.
    case deniedForGood(String, button: String)
}

public struct SharingUi: Equatable, Sendable {
    /// The switch: the worker turned sharing on (and its end has not passed).
    public var on: Bool
    /// The indicator: the place goes out with Publishes now.
    public var sharingNow: Bool
    /// 「位置情報を共有中」, 「勤務時間外のため一時停止中（08:00-19:00）」, …
    public var indicator: String
    /// The shift, `08:00-19:00`, or "" for none.
    public var workingHours: String
    /// 「18:00まで」 when sharing ends by itself.
    public var until: String?
    public var prompt: SharingPrompt
    public var error: String?
    /// When the indicator may change by itself (a shift's edge, the end): the
    /// screen calls `refresh` then.
    public var nextChangeUnix: Int64?
}

@MainActor
public final class SharingModel {
    private let client: PresenceClient
    private let lang: Lang
    private let clock: @Sendable () -> Int64
    private let zone: TimeZone
    /// The shift and end the screen shows: the core's while sharing is on, the
    /// worker's choice kept for the next "on" while it is off.
    private var hours: String?
    private var until: ClockTime?
    public private(set) var ui: SharingUi
    /// Called after every change (on the main actor); the app redraws.
    public var onChange: (() -> Void)?

    public init(client: PresenceClient, lang: Lang, zone: TimeZone = .current,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) throws {
        self.client = client
        self.lang = lang
        self.zone = zone
        self.clock = clock
        ui = SharingUi(on: false, sharingNow: false, indicator: "", workingHours: "", until: nil, prompt: .none, error: nil, nextChangeUnix: nil)
        ui = try read(prompt: .none, error: nil, adopt: true)
    }

    /// The listener to add to `PresenceEvents` while the screen shows.
    public func listener() -> PresenceListener {
        Refresher(onOutbox: false) { [weak self] in Task { @MainActor in self?.refresh() } }
    }

    private func text(_ ja: String, _ en: String) -> String { lang == .ja ? ja : en }

    /// The screen from the core; `adopt`: take the core's shift and end as the
    /// choice (at start, and whenever sharing is on).
    private func read(prompt: SharingPrompt, error: String?, adopt: Bool = false) throws -> SharingUi {
        let s = try client.sharingSettings()
        let now = clock()
        let on = s.on && (s.untilUnix ?? Int64.max) > now
        if adopt || on {
            hours = s.workingHours
            until = s.untilUnix.flatMap { $0 > now ? StatusTime.clockOf($0, zone: zone) : nil }
        }
        let indicator: String
        if s.sharingNow {
            indicator = text("位置情報を共有中", "Sharing your location now")
        } else if on, let shift = s.workingHours {
            indicator = text("勤務時間外のため一時停止中（\(shift)）", "Paused outside your hours (\(shift))")
        } else {
            indicator = text("位置情報は共有していません", "Not sharing your location")
        }
        return SharingUi(on: on, sharingNow: s.sharingNow, indicator: indicator, workingHours: hours ?? "",
                         until: until.map { StatusTime.until(StatusTime.nextUnix($0, nowUnix: now, zone: zone), zone: zone, lang) },
                         prompt: prompt, error: error, nextChangeUnix: s.nextChangeUnix)
    }

    private func show(_ prompt: SharingPrompt? = nil, error: String? = nil) {
        do {
            ui = try read(prompt: prompt ?? ui.prompt, error: error)
        } catch let e as PresenceError {
            ui.error = ErrorText.of(e, lang)
        } catch {
            ui.error = "\(error)"
        }
        onChange?()
    }

    /// Runs a change in the core; a refusal becomes the screen's message.
    private func core(_ work: () async throws -> Void) async -> Bool {
        do {
            try await work()
            return true
        } catch let e as PresenceError {
            show(error: ErrorText.of(e, lang))
        } catch {
            show(error: "\(error)")
        }
        return false
    }

    /// The choice into the core: sharing on, published at once.
    private func push() async -> Bool {
        let end = until.map { StatusTime.nextUnix($0, nowUnix: clock(), zone: zone) }
        let shift = hours
        return await core {
            let coordinates = try client.sharingSettings().shareCoordinates
            try await client.setLocationSharing(untilUnix: end, workingHours: shift, shareCoordinates: coordinates)
        }
    }

    private func turnOn() async -> SharingAction {
        guard await push() else { return .unchanged }
        show(SharingPrompt.none)
        return .startUpdates
    }

    private var rationale: SharingPrompt {
        .rationale(text("同僚に現在地の住所（正確な位置ではありません）を知らせるため、位置情報の利用を許可してください。共有は勤務時間内だけにでき、いつでもオフにできます。",
                        "To tell colleagues the address you are at (not your exact position), allow location access. You can limit sharing to your hours and turn it off at any time."))
    }

    private var denied: SharingPrompt {
        .denied(text("位置情報の利用が許可されなかったため、共有はオフのままです。もう一度オンにすると再度確認します。",
                     "Location access was not allowed, so sharing stays off. Turn it on again to be asked again."))
    }

    private var deniedForGood: SharingPrompt {
        .deniedForGood(text("位置情報の利用が許可されていません。共有するには、設定アプリでこのアプリに位置情報を許可してください。",
                            "Location access is turned off for this app. To share, allow location for it in the Settings app."),
                       button: text("設定を開く", "Open Settings"))
    }

    /// The switch turned on, with the access the platform reports now. The
    /// core shares only once access is granted.
    public func switchOn(_ access: LocationAccess) async -> SharingAction {
        switch access {
        case .granted: return await turnOn()
        case .notAsked, .denied: show(rationale); return .unchanged
        case .deniedForGood: show(deniedForGood); return .unchanged
        }
    }

    /// "Continue" under the explanation: the system's request.
    public func rationaleAccepted() -> SharingAction {
        show(SharingPrompt.none)
        return .requestAccess
    }

    /// "Not now": sharing stays off.
    public func rationaleDeclined() { show(SharingPrompt.none) }

    /// The system's request was answered (or access changed in Settings).
    public func answered(_ access: LocationAccess) async -> SharingAction {
        switch access {
        case .granted: return await turnOn()
        case .notAsked: return .unchanged
        case .denied: show(denied); return .stopUpdates
        case .deniedForGood: show(deniedForGood); return .stopUpdates
        }
    }

    /// The "Open Settings" button.
    public func openSettings() -> SharingAction { .openSettings }

    /// The switch turned off: the core publishes at once without the place,
    /// and no later Publish carries one until it is on again.
    @discardableResult
    public func switchOff() async -> SharingAction {
        if await core({ try await client.stopLocationSharing() }) { show(SharingPrompt.none) }
        return .stopUpdates
    }

    /// The app came to the front: updates run on if sharing is on and access
    /// still granted; access taken away meanwhile turns sharing off quietly
    /// (the switch shows it).
    public func resumed(_ access: LocationAccess) async -> SharingAction {
        show()
        guard ui.on else { return .stopUpdates }
        if access == .granted { return .startUpdates }
        return await switchOff()
    }

    /// The shift, `08:00-19:00` (empty: all day). While sharing is on the
    /// core publishes with it at once; while off it is kept for "on".
    public func setWorkingHours(_ written: String) async {
        let text = written.trimmingCharacters(in: .whitespaces)
        var shift: String?
        if !text.isEmpty {
            let parts = text.split(whereSeparator: { "-~〜～".contains($0) })
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let start = ClockTime(parsing: parts[0]), let end = ClockTime(parsing: parts[1]) else {
                show(error: self.text("勤務時間は 08:00-19:00 の形で入力してください。", "Enter your hours as 08:00-19:00."))
                return
            }
            shift = "\(start)-\(end)"
        }
        hours = shift
        if !ui.on { show(); return }
        if await push() { show() }
    }

    /// Share until the next `at` (today, or tomorrow once it passed); nil: no end.
    public func setUntil(_ at: ClockTime?) async {
        until = at
        if !ui.on { show(); return }
        if await push() { show() }
    }

    /// Reads the core again (its events; the indicator's next change).
    public func refresh() { show(error: ui.error) }
}
