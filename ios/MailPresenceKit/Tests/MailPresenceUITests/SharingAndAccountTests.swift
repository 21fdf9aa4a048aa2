// The location-sharing screen and the account's Save, as the app carries
// them out, against the real core: off until the worker turns it on, the
// permission steps (explain, ask, denied, denied for good, open Settings),
// the shift and "share until", the "sharing now" indicator, and the privacy
// promise: while off, no Publish carries a place.
import Foundation
import MailPresence
@testable import MailPresenceUI
import XCTest

/// A filled-in account form whose mail server does not answer (port 1).
func offlineForm(account: String = "tanaka") -> AccountForm {
    var f = AccountForm()
    f.account = account; f.mail = "tanaka@example.test"; f.password = "pw"
    f.presenceServer = "presence@example.test"; f.mailHost = "127.0.0.1"; f.imapPort = "1"; f.smtpPort = "1"
    f.authservId = "mx.example.test"
    return f
}

func tempDir() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("mailpresence-\(UUID().uuidString)").path
}

final class MemoryVault: AccountVault {
    var form: AccountForm?
    init(_ form: AccountForm? = nil) { self.form = form }
    func load() -> AccountForm? { form }
    func save(_ form: AccountForm) { self.form = form }
}

final class SharingTests: XCTestCase {
    func testANewAccountSharesNothingUntilTheWorkerTurnsSharingOn() async throws { try await onMain { try await Self.aNewAccountSharesNothingUntilTheWorkerTurnsSharingOn() } }

    @MainActor
    static func aNewAccountSharesNothingUntilTheWorkerTurnsSharingOn() async throws {
        let client = try offlineClient()
        let published = ColleaguesStore(lang: .ja) { 0 }
        client.setListener(listener: published)
        let sharing = try SharingModel(client: client, lang: .ja)
        XCTAssertFalse(sharing.ui.on)
        XCTAssertFalse(sharing.ui.sharingNow)
        XCTAssertEqual(sharing.ui.indicator, "位置情報は共有していません")
        _ = try await client.locationFix(lat: 35.0394, lon: 135.7292, accuracyM: 8, timeUnixMs: nil)
        try await eventuallyOnMain("the fix was published") { published.outboxDepth == 1 }
        XCTAssertNil(published.publishedLocation, "no place before sharing is on")
        let status = try MyStatusModel(client: client, lang: .ja)
        XCTAssertEqual(status.ui.location, "位置情報の共有を停止中")

        let on = await sharing.switchOn(.granted)
        XCTAssertEqual(on, .startUpdates)
        XCTAssertTrue(sharing.ui.on)
        XCTAssertEqual(sharing.ui.indicator, "位置情報を共有中")
        try await eventuallyOnMain("sharing on publishes the place") { published.publishedLocation == "京都府京都市北区" }
    }

    func testExplainAskDeniedAskedAgainDeniedForGoodOpenSettings() async throws { try await onMain { try await Self.explainAskDeniedAskedAgainDeniedForGoodOpenSettings() } }

    @MainActor
    static func explainAskDeniedAskedAgainDeniedForGoodOpenSettings() async throws {
        let client = try offlineClient()
        let sharing = try SharingModel(client: client, lang: .ja)
        let first = await sharing.switchOn(.notAsked)
        XCTAssertEqual(first, .unchanged)
        guard case let .rationale(why) = sharing.ui.prompt else { return XCTFail("\(sharing.ui.prompt)") }
        XCTAssertTrue(why.contains("正確な位置ではありません"), why)
        XCTAssertFalse(try client.isSharingLocation(), "not on before access is granted")
        sharing.rationaleDeclined()
        XCTAssertEqual(sharing.ui.prompt, SharingPrompt.none)
        XCTAssertFalse(sharing.ui.on)

        _ = await sharing.switchOn(.notAsked)
        XCTAssertEqual(sharing.rationaleAccepted(), .requestAccess)
        let denied = await sharing.answered(.denied)
        XCTAssertEqual(denied, .stopUpdates)
        XCTAssertEqual(sharing.ui.prompt, .denied("位置情報の利用が許可されなかったため、共有はオフのままです。もう一度オンにすると再度確認します。"))
        XCTAssertFalse(try client.isSharingLocation())

        _ = await sharing.switchOn(.denied)
        guard case .rationale = sharing.ui.prompt else { return XCTFail("not explained again: \(sharing.ui.prompt)") }
        _ = sharing.rationaleAccepted()
        let forGood = await sharing.answered(.deniedForGood)
        XCTAssertEqual(forGood, .stopUpdates)
        guard case let .deniedForGood(_, button) = sharing.ui.prompt else { return XCTFail("\(sharing.ui.prompt)") }
        XCTAssertEqual(button, "設定を開く")
        XCTAssertEqual(sharing.openSettings(), .openSettings)
        XCTAssertFalse(try client.isSharingLocation())
        // Switching on again without Settings goes straight to the button.
        let again = await sharing.switchOn(.deniedForGood)
        XCTAssertEqual(again, .unchanged)
        guard case .deniedForGood = sharing.ui.prompt else { return XCTFail("\(sharing.ui.prompt)") }
        // Allowed in Settings, back in the app: on.
        let allowed = await sharing.switchOn(.granted)
        XCTAssertEqual(allowed, .startUpdates)
        XCTAssertEqual(sharing.ui.prompt, SharingPrompt.none)
        XCTAssertTrue(try client.isSharingLocation())
    }

    func testAfterSharingIsSwitchedOffAStatusChangePublishesNoLocation() async throws { try await onMain { try await Self.afterSharingIsSwitchedOffAStatusChangePublishesNoLocation() } }

    @MainActor
    static func afterSharingIsSwitchedOffAStatusChangePublishesNoLocation() async throws {
        let client = try offlineClient()
        let published = ColleaguesStore(lang: .ja) { 0 }
        client.setListener(listener: published)
        let sharing = try SharingModel(client: client, lang: .ja)
        let state = try MyStatusModel(client: client, lang: .ja)
        let on = await sharing.switchOn(.granted)
        XCTAssertEqual(on, .startUpdates)
        await state.locationFix(lat: 35.0394, lon: 135.7292, accuracyM: 8)
        try await eventuallyOnMain("the place was published") { published.publishedLocation == "京都府京都市北区" }

        let off = await sharing.switchOff()
        XCTAssertEqual(off, .stopUpdates)
        XCTAssertFalse(sharing.ui.on)
        XCTAssertEqual(sharing.ui.indicator, "位置情報は共有していません")
        try await eventuallyOnMain("a Publish without the place went at once") { published.outboxDepth == 3 }
        XCTAssertNil(published.publishedLocation)
        await state.setActivity(.driving, note: nil)
        try await eventuallyOnMain("the status change was queued") { published.outboxDepth == 4 }
        XCTAssertNil(published.publishedLocation)
        let english = try MyStatusModel(client: client, lang: .en)
        XCTAssertEqual(english.ui.location, "Location sharing paused")

        let back = await sharing.switchOn(.granted)
        XCTAssertEqual(back, .startUpdates)
        try await eventuallyOnMain("sharing on publishes the place again") { published.publishedLocation == "京都府京都市北区" }
    }

    func testTheShiftAndTheEndGoToTheCoreKeptWhileOffAndTheIndicatorFollows() async throws { try await onMain { try await Self.theShiftAndTheEndGoToTheCoreKeptWhileOffAndTheIndicatorFollows() } }

    @MainActor
    static func theShiftAndTheEndGoToTheCoreKeptWhileOffAndTheIndicatorFollows() async throws {
        let client = try offlineClient()
        let zone = TimeZone.current
        let sharing = try SharingModel(client: client, lang: .ja)
        // A shift that starts two hours from now: outside it, sharing pauses.
        let start = ClockTime(hour: StatusTime.clockOf(nowUnix() + 2 * 3600, zone: zone).hour, minute: 0)!
        let end = ClockTime(hour: (start.hour + 1) % 24, minute: 0)!
        await sharing.setWorkingHours("\(start.hour):00〜\(end.hour):00")
        XCTAssertEqual(sharing.ui.workingHours, "\(start)-\(end)", "kept while off, written the core's way")
        XCTAssertFalse(try client.sharingSettings().on)

        _ = await sharing.switchOn(.granted)
        XCTAssertEqual(try client.sharingSettings().workingHours, "\(start)-\(end)")
        XCTAssertTrue(sharing.ui.on)
        XCTAssertFalse(sharing.ui.sharingNow)
        XCTAssertEqual(sharing.ui.indicator, "勤務時間外のため一時停止中（\(start)-\(end)）")
        XCTAssertEqual(sharing.ui.nextChangeUnix, StatusTime.nextUnix(start, nowUnix: nowUnix(), zone: zone), "it looks again when the shift starts")

        let until = StatusTime.clockOf(nowUnix() + 3600, zone: zone)
        await sharing.setUntil(until)
        XCTAssertEqual(sharing.ui.until, "\(until)まで")
        XCTAssertEqual(try client.sharingSettings().untilUnix, StatusTime.nextUnix(until, nowUnix: nowUnix(), zone: zone))

        await sharing.setWorkingHours("8時から")
        XCTAssertEqual(sharing.ui.error, "勤務時間は 08:00-19:00 の形で入力してください。")
        XCTAssertEqual(try client.sharingSettings().workingHours, "\(start)-\(end)")

        await sharing.switchOff()
        let reopened = try SharingModel(client: client, lang: .ja)
        XCTAssertEqual(reopened.ui.workingHours, "\(start)-\(end)", "the shift stays for next time")
        await sharing.setWorkingHours("")
        _ = await sharing.switchOn(.granted)
        XCTAssertNil(try client.sharingSettings().workingHours, "all day now")
        XCTAssertTrue(sharing.ui.sharingNow)
    }

    func testAtStartSharingRunsOnWithAccessAndGoesOffQuietlyWithoutIt() async throws { try await onMain { try await Self.atStartSharingRunsOnWithAccessAndGoesOffQuietlyWithoutIt() } }

    @MainActor
    static func atStartSharingRunsOnWithAccessAndGoesOffQuietlyWithoutIt() async throws {
        let client = try offlineClient()
        let sharing = try SharingModel(client: client, lang: .ja)
        let offStaysOff = await sharing.resumed(.granted)
        XCTAssertEqual(offStaysOff, .stopUpdates)
        _ = await sharing.switchOn(.granted)
        let fresh = try SharingModel(client: client, lang: .ja)
        let runs = await fresh.resumed(.granted)
        XCTAssertEqual(runs, .startUpdates)
        XCTAssertTrue(try client.isSharingLocation())
        let later = try SharingModel(client: client, lang: .ja)
        let gone = await later.resumed(.deniedForGood)
        XCTAssertEqual(gone, .stopUpdates)
        XCTAssertFalse(try client.isSharingLocation())
        XCTAssertFalse(later.ui.on)
        XCTAssertNil(later.ui.error)
    }
}

final class AccountSessionTests: XCTestCase {
    private var opened: [AccountConfig] = []

    private func session(_ vault: MemoryVault, storage: @escaping () -> String) -> AccountSession {
        AccountSession(lang: .ja, vault: vault, listener: ColleaguesStore(lang: .ja) { 0 }) { [unowned self] config in
            opened.append(config)
            let client = try PresenceClient(config: config, storageDir: storage(), mapPack: nil)
            client.networkChanged(online: false)
            return client
        }
    }

    func testAWorkerSignedInWithMicrosoftTypesNoPasswordAndTheCoreGetsTheSignIn() throws {
        let microsoft = ProviderConfig(provider: .microsoft, clientId: "00000000-1111-2222-3333-444444444444", tenant: "example.co.jp",
                                       scopes: nil, authorizeUrl: nil, tokenUrl: nil, deviceAuthorizationUrl: nil, revocationUrl: nil)
        var form = offlineForm()
        form.password = ""
        form.signIn = microsoft
        XCTAssertEqual(form.problems(.ja), [])
        var withoutSignIn = form
        withoutSignIn.signIn = nil
        XCTAssertEqual(withoutSignIn.problems(.ja).map(\.field), [.password])
        let config = form.config(.ja)
        XCTAssertEqual(config.oauth, microsoft)
        XCTAssertNil(config.imap.password, "no password goes to the core")
        XCTAssertNil(config.smtp.password)
        XCTAssertEqual(config.imap.user, "tanaka@example.test")
        let client = try PresenceClient.withSignIn(config: config, storageDir: tempDir(), mapPack: nil, tokens: Keystore("rt-from-the-keychain"))
        XCTAssertEqual(try client.ownPresence().account, "tanaka")
    }

    func testAGmailAddressFillsTheFormAndOffersTheGoogleSignIn() async throws {
        let found = try await findMailSettings(address: "yamada@gmail.com", dnsServers: [])
        let settings = try XCTUnwrap(found, "the core knows Gmail")
        let google = ProviderConfig(provider: .google, clientId: "1234.apps.googleusercontent.com", tenant: nil, scopes: nil,
                                    authorizeUrl: nil, tokenUrl: nil, deviceAuthorizationUrl: nil, revocationUrl: nil)
        var start = AccountForm()
        start.mail = "yamada@gmail.com"
        let form = start.withSettings(settings) { kind, _ in kind == .google ? google : nil }
        XCTAssertEqual(form.mailHost, "imap.gmail.com")
        XCTAssertEqual(form.imapPort, "993")
        XCTAssertEqual(form.imapSecurity, .implicit)
        XCTAssertEqual(form.smtpHost, "smtp.gmail.com")
        XCTAssertEqual(form.signIn, google)
        XCTAssertEqual(form.config(.ja).smtp.host, "smtp.gmail.com")
        XCTAssertEqual(form.config(.ja).imap.host, "imap.gmail.com")
        let unregistered = start.withSettings(settings) { _, _ in nil }
        XCTAssertNil(unregistered.signIn)
        XCTAssertTrue(unregistered.problems(.en).map(\.field).contains(.password))
    }

    func testAFormWithMistakesOpensNothingAndKeepsNothing() {
        let vault = MemoryVault()
        let dir = tempDir()
        let s = session(vault) { dir }
        var form = offlineForm()
        form.mail = "tanaka"
        guard case let .problems(problems) = s.save(form) else { return XCTFail("saved a form with a mistake") }
        XCTAssertEqual(problems.map(\.field), [.mail])
        XCTAssertTrue(opened.isEmpty)
        XCTAssertNil(vault.form)
        XCTAssertNil(s.client)
    }

    func testTheMailSystemsAuthservIdIsAskedForSaysWhyAndReachesTheCore() {
        var missing = offlineForm()
        missing.authservId = " "
        let problems = missing.problems(.en)
        XCTAssertEqual(problems.map(\.field), [.authservId])
        XCTAssertTrue(problems.first?.text.contains("no colleague's presence can be shown") ?? false, "\(problems)")
        var odd = offlineForm()
        odd.authservId = "mx example; dkim=pass"
        XCTAssertEqual(odd.problems(.ja).map(\.field), [.authservId])
        var spaced = offlineForm()
        spaced.authservId = " mx.example.co.jp "
        let vault = MemoryVault()
        let dir = tempDir()
        XCTAssertEqual(session(vault) { dir }.save(spaced), .saved)
        XCTAssertEqual(opened.last?.authservId, "mx.example.co.jp")
        XCTAssertEqual(vault.form?.authservId, " mx.example.co.jp ")
    }

    func testSaveOpensTheCoreKeepsTheFormAndTheNextSaveLetsTheOldClientGo() throws {
        let vault = MemoryVault()
        let dir = tempDir()
        let s = session(vault) { dir }
        XCTAssertEqual(s.save(offlineForm()), .saved)
        XCTAssertEqual(try s.client?.ownPresence().account, "tanaka")
        XCTAssertEqual(vault.form, offlineForm())
        weak var first = s.client
        XCTAssertNotNil(first)

        XCTAssertEqual(s.save(offlineForm(account: "tanaka2")), .saved)
        XCTAssertEqual(try s.client?.ownPresence().account, "tanaka2")
        XCTAssertEqual(vault.form?.account, "tanaka2")
        XCTAssertNil(first, "the old client is still held somewhere")
        s.close()
        XCTAssertNil(s.client)
    }

    func testAClientThatCannotBeOpenedIsAnErrorInWordsAndTheOldOneStays() throws {
        let vault = MemoryVault()
        let dir = tempDir()
        var storage = dir
        let s = session(vault) { storage }
        XCTAssertEqual(s.save(offlineForm()), .saved)
        let working = s.client
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("mailpresence-file-\(UUID().uuidString)")
        try Data("not a folder".utf8).write(to: file)
        storage = file.path
        XCTAssertEqual(s.save(offlineForm(account: "suzuki")), .failed("端末の保存領域に書き込めません。"))
        XCTAssertTrue(s.client === working)
        XCTAssertEqual(try s.client?.ownPresence().account, "tanaka")
        XCTAssertEqual(vault.form?.account, "tanaka")
    }

    func testTheSavedAccountOpensAtStartAndANewPlaceDetailReopensIt() {
        let vault = MemoryVault(offlineForm())
        let dir = tempDir()
        let s = session(vault) { dir }
        XCTAssertNil(s.openSaved())
        XCTAssertEqual(opened.map(\.granularity), [.city])
        XCTAssertEqual(s.changeGranularity(.district), .saved)
        XCTAssertEqual(opened.last?.granularity, .district)
        XCTAssertEqual(vault.form?.granularity, .district)
    }

    func testANewPlaceDetailWithoutAnAccountSaysSo() {
        let dir = tempDir()
        let s = session(MemoryVault()) { dir }
        XCTAssertEqual(s.changeGranularity(.street), .failed("先にアカウントを設定してください。"))
    }
}
