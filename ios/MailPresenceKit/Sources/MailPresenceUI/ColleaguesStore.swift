// The Colleagues screen's state: one row per colleague, fed by the core's
// listener (which calls from a background thread). SwiftUI observes it on the
// main actor through the app's thin wrapper.
import Foundation
import MailPresence

public struct ColleagueRow: Equatable {
    public let account: String
    public let text: String
    public let stale: Bool
}

public final class ColleaguesStore: PresenceListener, @unchecked Sendable {
    private let lang: Lang
    private let clock: () -> Int64
    private let lock = NSLock()
    private var known: [String: ColleaguePresence] = [:]
    private var connectionLine: String?
    private var waiting: UInt32 = 0
    private var published: String?
    /// Called after every change (on the listener's thread); the app redraws.
    public var onChange: (@Sendable () -> Void)?

    public init(lang: Lang, clock: @escaping () -> Int64) {
        self.lang = lang
        self.clock = clock
    }

    public func rows() -> [ColleagueRow] {
        let now = clock()
        return lock.with { known.values }
            .sorted { $0.presence.account < $1.presence.account }
            .map { ColleagueRow(account: $0.presence.account, text: PresenceFormat.row($0.presence, nowUnix: now, lang), stale: PresenceFormat.isStale($0, nowUnix: now)) }
    }

    /// A line for the status bar when the link to the mail server has a problem.
    public var connection: String? { lock.with { connectionLine } }
    public var outboxDepth: UInt32 { lock.with { waiting } }
    /// The location the last Publish carried (nil while sharing is off or none is known).
    public var publishedLocation: String? { lock.with { published } }

    public func onColleague(colleague: ColleaguePresence) {
        lock.with { known[colleague.presence.account] = colleague }
        onChange?()
    }

    public func onPublished(location: String?) {
        lock.with { published = location }
        onChange?()
    }

    public func onOutboxChanged(depth: UInt32) {
        lock.with { waiting = depth }
        onChange?()
    }

    public func onMailRefused(refused: MailRefused) {
        let line = lang == .ja
            ? "メールサーバーが送信を拒否しました (\(refused.recipient)): \(refused.reason)"
            : "The mail server refused a mail to \(refused.recipient): \(refused.reason)"
        lock.with { connectionLine = line }
        onChange?()
    }

    public func onConnection(status: ConnectionStatus) {
        let line: String?
        switch status {
        case .connected: line = nil
        case .offline: line = lang == .ja ? "オフライン — 変更は送信待ちです" : "Offline — changes will be sent later"
        case let .failed(error): line = ErrorText.of(error, lang)
        }
        lock.with { connectionLine = line }
        onChange?()
    }
}

extension NSLock {
    func with<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
