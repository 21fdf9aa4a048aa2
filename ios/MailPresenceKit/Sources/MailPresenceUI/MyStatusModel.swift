// The My status screen's state and actions, over the core's client: five
// activity choices with the current one highlighted, a note, a status that
// ends by itself (「会議 until 15:00」: the core keeps the end and goes back
// by itself), plans from a return-time picker and presets, clearing them,
// and what the core's events say (the published place, the outbox) without
// a manual refresh. Every action publishes; a failure becomes a message,
// never a crash. On the main actor: SwiftUI observes it through the app.
import Foundation
import MailPresence

/// One of the activity buttons.
public struct StatusChoice: Equatable, Sendable {
    public let kind: ActivityToken
    public let label: String
    public let selected: Bool
}

public enum StatusChoices {
    /// The five a field worker uses; the rest come from colleagues' desk phones.
    public static let kinds: [ActivityToken] = [.available, .onSite, .driving, .meeting, .break]

    /// Short enough for five buttons in a row on a small phone.
    public static func label(_ kind: ActivityToken, _ lang: Lang) -> String {
        switch (kind, lang) {
        case (.available, .ja): return "在席"
        case (.onSite, .ja): return "現場"
        case (.driving, .ja): return "運転中"
        case (.meeting, .ja): return "会議"
        case (.break, .ja): return "休憩"
        case (.available, .en): return "Free"
        case (.onSite, .en): return "On site"
        case (.driving, .en): return "Driving"
        case (.meeting, .en): return "Meeting"
        case (.break, .en): return "Break"
        default: return PresenceFormat.activityLabel(kind, lang)
        }
    }

    /// How wide a label is in half-width cells (a kanji or kana takes two).
    public static func cells(_ label: String) -> Int {
        label.unicodeScalars.reduce(0) { $0 + ($1.value < 0x1100 ? 1 : 2) }
    }
}

public struct MyStatusUi: Equatable, Sendable {
    /// The headline: 現場作業中（設備点検中）.
    public var activity: String
    public var choices: [StatusChoice]
    /// The note that goes with the activity (設備点検中), or "".
    public var note: String
    /// 「15:00まで」 when the status ends by itself, then goes back.
    public var endsAt: String?
    /// The own place, or that sharing is paused (then no Publish carries one).
    public var location: String
    /// Whether the place goes out now (the Sharing screen has the switch).
    public var sharing: Bool
    public var plans: [String]
    /// "最終送信: 5分前" / "Last published: 5 min ago".
    public var lastPublish: String
    /// Mails waiting, in words; when the outbox is full, what to do.
    public var pending: String?
    public var outboxFull: Bool
    public var error: String?
}

@MainActor
public final class MyStatusModel {
    private let client: PresenceClient
    private let lang: Lang
    private let clock: @Sendable () -> Int64
    private let zone: TimeZone
    /// What the screen shows now.
    public private(set) var ui: MyStatusUi
    /// Called after every change (on the main actor); the app redraws.
    public var onChange: (() -> Void)?

    public init(client: PresenceClient, lang: Lang, zone: TimeZone = .current,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) throws {
        self.client = client
        self.lang = lang
        self.clock = clock
        self.zone = zone
        ui = try Self.read(client, lang, clock(), zone, error: nil)
    }

    /// The listener to add to `PresenceEvents` while the screen shows: the
    /// core's events (a published place, the outbox) redraw it.
    public func listener() -> PresenceListener {
        Refresher(onOutbox: true) { [weak self] in Task { @MainActor in self?.refresh() } }
    }

    private static func read(_ client: PresenceClient, _ lang: Lang, _ now: Int64, _ zone: TimeZone, error: String?) throws -> MyStatusUi {
        let own = try client.ownPresence()
        let depth = try client.outboxDepth()
        let sharing = try client.isSharingLocation()
        let current = own.activity ?? .available
        let published = own.updatedUnix == nil ? "—" : PresenceFormat.age(updatedUnix: own.updatedUnix, nowUnix: now, lang)
        return MyStatusUi(
            activity: PresenceFormat.activity(own, lang),
            choices: StatusChoices.kinds.map { StatusChoice(kind: $0, label: StatusChoices.label($0, lang), selected: $0 == current) },
            note: own.activityText ?? "",
            endsAt: try client.statusEndsUnix().map { StatusTime.until($0, zone: zone, lang) },
            location: LocationLine.of(own, sharing: sharing, lang),
            sharing: sharing,
            plans: own.schedule,
            lastPublish: (lang == .ja ? "最終送信: " : "Last published: ") + published,
            pending: ErrorText.outbox(depth, lang),
            outboxFull: ErrorText.isOutboxFull(depth),
            error: error)
    }

    private func show(error: String?) {
        do {
            ui = try Self.read(client, lang, clock(), zone, error: error)
        } catch let e as PresenceError {
            ui.error = ErrorText.of(e, lang)
        } catch {
            ui.error = "\(error)"
        }
        onChange?()
    }

    /// Reads the core again, keeping the message shown (the core's events,
    /// the screen coming back).
    public func refresh() { show(error: ui.error) }

    private func act(_ work: () async throws -> Void) async {
        var message: String?
        do {
            try await work()
        } catch let e as PresenceError {
            message = ErrorText.of(e, lang)
        } catch {
            message = "\(error)"
        }
        show(error: message)
    }

    /// Sets the activity with its note; with `until` (a time of day, the next
    /// one to come) it ends by itself then and the status before returns.
    public func setActivity(_ kind: ActivityToken?, note: String?, until: ClockTime? = nil) async {
        let text = note.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        let end = until.map { StatusTime.nextUnix($0, nowUnix: clock(), zone: zone) }
        await act { try await client.setStatus(activity: kind, text: text, untilUnix: end) }
    }

    public func addPlan(_ plan: String) async { await act { try await client.addSchedule(entry: plan) } }

    /// The return time from the picker: 「15:00 帰社予定」.
    public func addReturn(_ at: ClockTime) async { await addPlan(Plans.returnAt(at, lang)) }

    public func addPreset(_ preset: PlanPreset) async { await addPlan(preset.plan) }

    public func clearPlans() async { await act { try await client.clearSchedule() } }

    public func locationFix(lat: Double, lon: Double, accuracyM: Double?) async {
        await act { _ = try await client.locationFix(lat: lat, lon: lon, accuracyM: accuracyM, timeUnixMs: nil) }
    }

    /// The presets under the picker, its return time in the first.
    public func presets(returnAt: ClockTime) -> [PlanPreset] { Plans.presets(returnAt: returnAt, lang) }

    /// Where the return-time picker starts.
    public func defaultReturn() -> ClockTime { StatusTime.defaultReturn(nowUnix: clock(), zone: zone) }
}

/// The own place as the status screen shows it, or that sharing is paused.
public enum LocationLine {
    public static func of(_ own: PresenceView, sharing: Bool, _ lang: Lang) -> String {
        if !sharing { return lang == .ja ? "位置情報の共有を停止中" : "Location sharing paused" }
        return own.location ?? (lang == .ja ? "位置情報なし" : "No location shared")
    }
}
