// The app's state for SwiftUI: the account session (the core's client), the
// core's listener shared by the screens (PresenceEvents: the Colleagues
// store, My status, Sharing), location, the network. Decisions live in
// MailPresenceUI and the core; this observes and forwards.
import Combine // ObservableObject, @Published
import Foundation
import MailPresence
import MailPresenceUI
import Network

@MainActor
final class AppModel: ObservableObject {
    let lang = Lang(localeIdentifier: Locale.preferredLanguages.first ?? "ja")
    let colleagues: ColleaguesStore
    /// The core's one listener, shared by every screen that follows it.
    let events = PresenceEvents()
    let session: AccountSession
    /// The My status and Sharing screens' models, new with every client.
    @Published private(set) var status: MyStatusModel?
    @Published private(set) var sharing: SharingModel?
    private var heard: [PresenceEvents.Subscription] = []
    @Published var message: String?
    private let location = LocationTracker()
    private let network = NWPathMonitor()

    var client: PresenceClient? { session.client }
    private let tokens: KeychainTokens
    /// The sign-in with the company's provider, once begun or saved.
    @Published private(set) var signIn: MailSignIn?
    private var signingInWith: ProviderConfig?
    private let browser = SignInSession()

    init() {
        let colleagues = ColleaguesStore(lang: lang) { Int64(Date().timeIntervalSince1970) }
        self.colleagues = colleagues
        let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0].appendingPathComponent("presence").path
        let pack = Bundle.main.url(forResource: "mappack", withExtension: "bin").flatMap { try? Data(contentsOf: $0) }
        let tokens = KeychainTokens()
        self.tokens = tokens
        events.add(colleagues)
        session = AccountSession(lang: lang, vault: AccountStorage(passwords: Keychain()), listener: events) { config in
            let client = config.oauth == nil ? try PresenceClient(config: config, storageDir: dir, mapPack: pack)
                : try PresenceClient.withSignIn(config: config, storageDir: dir, mapPack: pack, tokens: tokens)
            // An enrolled phone signs everything with its key.
            let keys = KeychainDeviceKeys()
            if keys.load() != nil { _ = try client.useDeviceKey(storage: keys) }
            return client
        }
        colleagues.onChange = { [weak self] in Task { @MainActor in self?.objectWillChange.send() } }
        if let saved = session.form().signIn {
            signIn = try? MailSignIn(lang: lang, signIn: SignIn(provider: saved, redirectUri: SignInSession.redirectURI, storage: tokens))
            signingInWith = saved
        }
        message = session.openSaved()
        makeScreens()
        attachColleagues()
        // Called on the monitor's queue, not the main actor: only the answer crosses over.
        network.pathUpdateHandler = { @Sendable [weak self] path in
            let online = path.status == .satisfied
            Task { @MainActor in self?.client?.networkChanged(online: online) }
        }
        network.start(queue: .global(qos: .utility))
        location.onFix = { [weak self] lat, lon, accuracy, timeUnixMs in
            Task { await self?.fix(lat: lat, lon: lon, accuracy: accuracy, timeUnixMs: timeUnixMs) }
        }
        location.onAccess = { [weak self] access in
            Task { await self?.accessChanged(access) }
        }
        Task { await resumeSharing() }
    }

    /// The opened client's followed colleagues and directory, shown at once
    /// from its store (at start and after every Save).
    private func attachColleagues() {
        guard let client else { return }
        let colleagues = self.colleagues
        Task { try? await colleagues.attach(client) }
    }

    /// The screens' models for the client in use (a new one after Save),
    /// each hearing the core's events while it lives.
    private func makeScreens() {
        heard.forEach { $0.cancel() }
        heard = []
        guard let client else { status = nil; sharing = nil; return }
        status = try? MyStatusModel(client: client, lang: lang)
        sharing = try? SharingModel(client: client, lang: lang)
        for model in [status?.listener(), sharing?.listener()].compactMap({ $0 }) { heard.append(events.add(model)) }
        status?.onChange = { [weak self] in self?.objectWillChange.send() }
        sharing?.onChange = { [weak self] in self?.objectWillChange.send() }
    }

    /// Save on the Account screen: the form's mistakes, or the result in words.
    func save(_ form: AccountForm) -> [AccountForm.Problem] {
        let result = session.save(form)
        objectWillChange.send()
        switch result {
        case let .problems(problems): return problems
        case let .failed(text): message = text
        case .saved:
            message = nil
            makeScreens()
            attachColleagues()
            Task { await resumeSharing() }
        }
        return []
    }

    /// The company's app registration, as IT put it in Info.plist
    /// (MailPresenceMicrosoftClientID, …); nil: the button is not shown.
    func provider(_ kind: ProviderKind) -> ProviderConfig? {
        let info = Bundle.main.infoDictionary ?? [:]
        let key: String, tenant: String?
        switch kind {
        case .microsoft: key = "MailPresenceMicrosoftClientID"; tenant = info["MailPresenceMicrosoftTenant"] as? String
        case .google: key = "MailPresenceGoogleClientID"; tenant = nil
        case .custom: return nil
        }
        guard let id = info[key] as? String, !id.isEmpty else { return nil }
        return ProviderConfig(provider: kind, clientId: id, tenant: tenant?.isEmpty == false ? tenant : nil, scopes: nil,
                              authorizeUrl: nil, tokenUrl: nil, deviceAuthorizationUrl: nil, revocationUrl: nil)
    }

    /// "Sign in with …": the browser sheet, then the account saved with the
    /// provider instead of a password.
    func signIn(with provider: ProviderConfig) async {
        do {
            let fresh = MailSignIn(lang: lang, signIn: try SignIn(provider: provider, redirectUri: SignInSession.redirectURI, storage: tokens))
            signIn = fresh
            signingInWith = provider
            guard let back = try await browser.run(fresh) else { return fresh.cancelled() }
            if await fresh.redirected(back) == .signedIn {
                var form = session.form()
                form.password = ""
                form.signIn = provider
                _ = save(form)
            }
        } catch let e as PresenceError {
            message = ErrorText.of(e, lang)
        } catch {
            message = "\(error)"
        }
        objectWillChange.send()
    }

    func changeGranularity(_ granularity: Granularity) {
        if case let .failed(text) = session.changeGranularity(granularity) { message = text } else { makeScreens(); attachColleagues() }
        objectWillChange.send()
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
        status?.refresh()
        objectWillChange.send()
    }

    /// The sharing switch moved: SharingModel decides, CoreLocation does.
    func share(_ on: Bool) {
        guard let sharing else { return }
        let access = location.access
        Task {
            if on {
                carryOut(await sharing.switchOn(access))
            } else {
                carryOut(await sharing.switchOff())
            }
        }
    }

    /// Whether the system's request is open: its answer turns sharing on.
    private var awaitingAnswer = false

    /// What a button on the Sharing screen decided, carried out.
    func carryOut(_ action: SharingAction) {
        if action == .requestAccess { awaitingAnswer = true }
        location.carryOut(action)
    }

    /// The access the platform reports now, for the Sharing screen.
    var locationAccess: LocationAccess { location.access }

    /// CoreLocation reports access: at start, after the request, or after a
    /// change in Settings. Only the answer to our request turns sharing on.
    private func accessChanged(_ access: LocationAccess) async {
        guard let sharing else { return }
        if awaitingAnswer && access != .notAsked {
            awaitingAnswer = false
            carryOut(await sharing.answered(access))
        } else if sharing.ui.on {
            carryOut(await sharing.resumed(access))
        }
    }

    private func resumeSharing() async {
        guard let sharing else { return }
        location.carryOut(await sharing.resumed(location.access))
    }

    private func fix(lat: Double, lon: Double, accuracy: Double, timeUnixMs: Int64?) async {
        await run { _ = try await $0.locationFix(lat: lat, lon: lon, accuracyM: accuracy, timeUnixMs: timeUnixMs) }
    }

    /// A background refresh (BackgroundRefresh): true only when the core read the mailbox.
    func syncInBackground() async -> Bool {
        await BackgroundSync.run(client)
    }
}
