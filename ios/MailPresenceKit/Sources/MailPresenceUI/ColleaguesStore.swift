// The Colleagues screen's state: the colleagues the worker follows (kept by
// the core, so they are there at once after a restart, before any mail),
// finding more in the company directory by name, kana or romaji, following
// and unfollowing, and what a tap on a colleague can do (call the extension,
// call over SIP, write a mail). Fed by the core's listener, which calls from
// a background thread; SwiftUI observes it on the main actor through the
// app's thin wrapper.
import Foundation
import MailPresence

/// One row of the list: a followed colleague, or one whose presence arrived.
public struct ColleagueRow: Equatable, Sendable {
    public let account: String
    /// 山田 花子, or the account when the directory does not know them yet.
    public let name: String
    public let text: String
    public let stale: Bool
    public let followed: Bool
}

/// A search result: someone of the directory, and whether they are followed.
public struct FoundColleague: Equatable {
    public let entry: DirectoryEntry
    public let following: Bool
}

/// What a tap on a colleague offers; the app opens `uri` with the system.
public struct ContactAction: Equatable, Sendable {
    public enum Kind: Sendable { case call, sip, mail }
    public let kind: Kind
    public let uri: String
    public let label: String
}

public final class ColleaguesStore: PresenceListener, @unchecked Sendable {
    private let lang: Lang
    private let clock: () -> Int64
    // Everything below is guarded by `lock`: the listener calls from the core's thread.
    private let lock = NSLock()
    private var known: [String: ColleaguePresence] = [:]
    private var following: [String] = []
    private var entries: [String: DirectoryEntry] = [:]
    private var directoryNow: DirectoryState?
    private var connectionLine: String?
    private var waiting: UInt32 = 0
    private var published: String?
    private var client: PresenceClient?
    /// Called after every change (on the listener's thread); the app redraws.
    public var onChange: (@Sendable () -> Void)?

    public init(lang: Lang, clock: @escaping () -> Int64) {
        self.lang = lang
        self.clock = clock
    }

    /// Shows what the core kept for `client` (the followed colleagues with
    /// their last presence, the directory), and asks the server for the
    /// directory when the phone has none yet. Call it after the client is opened.
    public func attach(_ client: PresenceClient) async throws {
        lock.with { self.client = client }
        try reloadFollowed(client)
        let state = try client.directoryState()
        let everyone = try client.searchDirectory(query: "")
        lock.with {
            directoryNow = state
            remember(everyone)
        }
        onChange?()
        // Queued whatever happens; a mail server that refuses it now is told
        // on the status line, as any send is, and it goes out later.
        if state.receivedUnix == nil {
            do {
                try await client.requestDirectory(query: nil)
            } catch let e as PresenceError {
                let line = ErrorText.of(e, lang)
                lock.with { connectionLine = line }
                onChange?()
            }
        }
    }

    /// Followed colleagues first, in the order they were followed; then the others whose presence arrived.
    public func rows() -> [ColleagueRow] {
        let now = clock()
        let (presences, followedNow, names) = lock.with { (known, following, entries.mapValues(\.name)) }
        let others = presences.keys.filter { !followedNow.contains($0) }.sorted()
        return (followedNow + others).map { account in
            let name = names[account] ?? account
            guard let presence = presences[account] else {
                return ColleagueRow(account: account, name: name, text: lang == .ja ? "まだ状態が届いていません" : "No presence yet",
                                    stale: false, followed: true)
            }
            return ColleagueRow(account: account, name: name, text: PresenceFormat.row(presence.presence, nowUnix: now, lang),
                                stale: PresenceFormat.isStale(presence, nowUnix: now), followed: followedNow.contains(account))
        }
    }

    /// The accounts followed, in the order they were followed.
    public var followed: [String] { lock.with { following } }
    /// The directory kept on the phone (nil before a client is attached).
    public var directory: DirectoryState? { lock.with { directoryNow } }
    public var colleagues: [String: ColleaguePresence] { lock.with { known } }
    /// A line for the status bar when the link to the mail server has a problem.
    public var connection: String? { lock.with { connectionLine } }
    public var outboxDepth: UInt32 { lock.with { waiting } }
    /// The location the last Publish carried (nil while sharing is off or none is known).
    public var publishedLocation: String? { lock.with { published } }

    /// Colleagues of the directory that `query` finds: name, reading (かな, カナ, romaji), extension, department.
    public func search(_ query: String) throws -> [FoundColleague] {
        guard let client = lock.with({ client }) else { return [] }
        let found = try client.searchDirectory(query: query)
        let followedNow = lock.with { remember(found); return following }
        return found.map { FoundColleague(entry: $0, following: followedNow.contains($0.account)) }
    }

    /// Asks the server again (a colleague who joined, or a narrower query when the list was cut).
    public func refreshDirectory(query: String? = nil) async throws {
        let q = query?.trimmingCharacters(in: .whitespaces)
        try await lock.with { client }?.requestDirectory(query: q?.isEmpty == false ? q : nil)
    }

    /// Follows colleagues; nil when done, else what went wrong in words.
    public func follow(_ accounts: [String]) async -> String? {
        await act { try await $0.follow(accounts: accounts) }
    }

    public func unfollow(_ account: String) async -> String? {
        await act { try await $0.unfollow(accounts: [account]) }
    }

    /// What a tap on `account` offers: the extension, a SIP call, a mail.
    public func contactActions(_ account: String) -> [ContactAction] {
        let (entry, contact) = lock.with { (entries[account], known[account]?.presence.contact) }
        var actions: [ContactAction] = []
        if let ext = entry?.extension {
            let digits = ext.filter { $0.isNumber || "+*#".contains($0) }
            actions.append(ContactAction(kind: .call, uri: "tel:\(digits)", label: lang == .ja ? "内線 \(ext) に電話" : "Call ext. \(ext)"))
        }
        if let contact, contact.hasPrefix("sip:") || contact.hasPrefix("sips:") {
            actions.append(ContactAction(kind: .sip, uri: contact, label: lang == .ja ? "SIPで発信" : "Call over SIP"))
        }
        if let mail = entry?.mail {
            actions.append(ContactAction(kind: .mail, uri: "mailto:\(mail)", label: lang == .ja ? "メールを書く" : "Write a mail"))
        }
        return actions
    }

    private func act(_ what: (PresenceClient) async throws -> Void) async -> String? {
        guard let client = lock.with({ client }) else {
            return lang == .ja ? "先にアカウントを設定してください。" : "Set up the account first."
        }
        do {
            try await what(client)
            try reloadFollowed(client)
            return nil
        } catch let e as PresenceError {
            return ErrorText.of(e, lang)
        } catch {
            return "\(error)"
        }
    }

    private func reloadFollowed(_ client: PresenceClient) throws {
        let list = try client.followed()
        lock.with {
            following = list.map(\.account)
            remember(list.compactMap(\.entry))
            for f in list {
                if let p = f.presence, (known[f.account]?.receivedUnix ?? Int64.min) <= p.receivedUnix { known[f.account] = p }
            }
        }
        onChange?()
    }

    /// Only under `lock`.
    private func remember(_ list: [DirectoryEntry]) {
        for e in list { entries[e.account] = e }
    }

    public func onColleague(colleague: ColleaguePresence) {
        lock.with { known[colleague.presence.account] = colleague }
        onChange?()
    }

    public func onPhoneMessage(message: PhoneMessage) {}

    public func onDirectory(listed: UInt32, total: UInt32) {
        guard let client = lock.with({ client }),
              let state = try? client.directoryState(),
              let everyone = try? client.searchDirectory(query: "") else { return }
        lock.with {
            directoryNow = state
            remember(everyone)
        }
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
