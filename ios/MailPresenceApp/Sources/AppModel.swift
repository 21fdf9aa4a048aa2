// The app's state: the core's client, the Colleagues store (fed by the core's
// listener), location, the network. SwiftUI observes it; logic lives in
// MailPresenceUI and the core.
import Foundation
import MailPresence
import MailPresenceUI
import Network

@MainActor
final class AppModel: ObservableObject {
    static weak var shared: AppModel?
    let lang = Lang(localeIdentifier: Locale.preferredLanguages.first ?? "ja")
    let colleagues: ColleaguesStore
    @Published var client: PresenceClient?
    @Published var own: Presence?
    @Published var message: String?
    private let location = LocationTracker()
    private let network = NWPathMonitor()

    init() {
        colleagues = ColleaguesStore(lang: lang) { Int64(Date().timeIntervalSince1970) }
        Self.shared = self
        colleagues.onChange = { [weak self] in Task { @MainActor in self?.objectWillChange.send() } }
        if let form = AccountStorage.load() { open(form) }
        network.pathUpdateHandler = { [weak self] path in
            Task { @MainActor in self?.client?.networkChanged(online: path.status == .satisfied) }
        }
        network.start(queue: .global(qos: .utility))
        location.onFix = { [weak self] lat, lon, accuracy, time in
            Task { @MainActor in await self?.fix(lat: lat, lon: lon, accuracy: accuracy, time: time) }
        }
    }

    func open(_ form: AccountForm) {
        client?.stop()
        let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0].appendingPathComponent("presence").path
        let pack = Bundle.main.url(forResource: "mappack", withExtension: "bin").flatMap { try? Data(contentsOf: $0) }
        do {
            let c = try PresenceClient(config: form.config(lang), storageDir: dir, mapPack: pack)
            c.setListener(listener: colleagues)
            c.start()
            client = c
            own = try? c.ownPresence()
        } catch let e as PresenceError {
            message = ErrorText.of(e, lang)
        } catch {
            message = "\(error)"
        }
    }

    func run(_ work: (PresenceClient) async throws -> Void) async {
        guard let c = client else { return }
        do {
            try await work(c)
            message = nil
        } catch let e as PresenceError {
            message = ErrorText.of(e, lang)
        } catch {
            message = "\(error)"
        }
        own = try? c.ownPresence()
        objectWillChange.send()
    }

    /// The sharing switch: the core first (off publishes without a place at
    /// once), then the location updates.
    func share(_ on: Bool) {
        on ? location.start() : location.stop()
        Task { await run { try await LocationSharing.set(on, client: $0) } }
    }

    var sharing: Bool { client.map(LocationSharing.isOn) ?? false }

    private func fix(lat: Double, lon: Double, accuracy: Double, time: Date) async {
        await run { _ = try await $0.locationFix(lat: lat, lon: lon, accuracyM: accuracy, timeUnixMs: Int64(time.timeIntervalSince1970 * 1000)) }
    }
}
