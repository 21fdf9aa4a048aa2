// The core's one listener handed to every screen that follows it: the client
// takes a single PresenceListener (setListener replaces the earlier one), and
// the Colleagues list, My status and Sharing each want its events. Screens
// come and go; each adds itself while it shows and cancels its subscription.
import Foundation
import MailPresence

public final class PresenceEvents: PresenceListener, @unchecked Sendable {
    private let lock = NSLock()
    private var listeners: [ObjectIdentifier: PresenceListener] = [:]

    public init() {}

    /// A subscription: the listener hears events until `cancel`.
    public final class Subscription: @unchecked Sendable {
        private weak var events: PresenceEvents?
        private let id: ObjectIdentifier
        init(_ events: PresenceEvents, _ id: ObjectIdentifier) { self.events = events; self.id = id }
        public func cancel() { events?.remove(id) }
    }

    /// `listener` hears every event until the subscription is cancelled.
    @discardableResult
    public func add(_ listener: PresenceListener) -> Subscription {
        let id = ObjectIdentifier(listener)
        lock.with { listeners[id] = listener }
        return Subscription(self, id)
    }

    fileprivate func remove(_ id: ObjectIdentifier) { lock.with { _ = listeners.removeValue(forKey: id) } }

    private var all: [PresenceListener] { lock.with { Array(listeners.values) } }

    public func onColleague(colleague: ColleaguePresence) { all.forEach { $0.onColleague(colleague: colleague) } }
    public func onPublished(location: String?) { all.forEach { $0.onPublished(location: location) } }
    public func onOutboxChanged(depth: UInt32) { all.forEach { $0.onOutboxChanged(depth: depth) } }
    public func onConnection(status: ConnectionStatus) { all.forEach { $0.onConnection(status: status) } }
    public func onMailRefused(refused: MailRefused) { all.forEach { $0.onMailRefused(refused: refused) } }
    public func onDirectory(listed: UInt32, total: UInt32) { all.forEach { $0.onDirectory(listed: listed, total: total) } }
    public func onPhoneMessage(message: PhoneMessage) { all.forEach { $0.onPhoneMessage(message: message) } }
}

/// A screen model's ear on the core: the listener calls from its own thread;
/// `refresh` hops to the model (on the main actor) and reads the core again.
final class Refresher: PresenceListener, Sendable {
    private let refresh: @Sendable () -> Void
    private let onOutbox: Bool

    init(onOutbox: Bool, _ refresh: @escaping @Sendable () -> Void) {
        self.refresh = refresh
        self.onOutbox = onOutbox
    }

    func onPublished(location: String?) { refresh() }
    func onOutboxChanged(depth: UInt32) { if onOutbox { refresh() } }
    func onColleague(colleague: ColleaguePresence) {}
    func onConnection(status: ConnectionStatus) {}
    func onMailRefused(refused: MailRefused) {}
    func onDirectory(listed: UInt32, total: UInt32) {}
    func onPhoneMessage(message: PhoneMessage) {}
}
