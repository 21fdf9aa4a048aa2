// The sharing switch and the account's Save, as the app carries them out,
// against the real core. The privacy promise: after "off", no Publish
// carries a place.
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
    func testAfterSharingIsSwitchedOffAStatusChangePublishesNoLocation() async throws {
        let client = try offlineClient()
        let published = ColleaguesStore(lang: .ja) { 0 }
        client.setListener(listener: published)
        let start = try await LocationSharing.resumed(.whenInUse, client: client)
        XCTAssertEqual(start, .startUpdates)
        _ = try await client.locationFix(lat: 35.0394, lon: 135.7292, accuracyM: 8, timeUnixMs: nil)
        try await eventually("the place was published") { published.publishedLocation == "京都府京都市北区" }

        let off = try await LocationSharing.switched(false, access: .whenInUse, client: client, .ja)
        XCTAssertEqual(off, SharingStep(action: .stopUpdates, message: nil))
        XCTAssertFalse(LocationSharing.isOn(client))
        XCTAssertEqual(LocationSharing.placeLine(try client.ownPresence(), sharing: false, .ja), "位置情報の共有を停止中")
        try await eventually("a Publish without the place went at once") { published.outboxDepth == 2 }
        XCTAssertNil(published.publishedLocation)
        try await client.setStatus(activity: .driving, text: nil)
        try await eventually("the status change was queued") { published.outboxDepth == 3 }
        XCTAssertNil(published.publishedLocation)

        let on = try await LocationSharing.switched(true, access: .whenInUse, client: client, .ja)
        XCTAssertEqual(on.action, .startUpdates)
        try await eventually("sharing on publishes the place again") { published.publishedLocation == "京都府京都市北区" }
    }

    func testSwitchingOnBeforeAnyoneAskedRequestsAccessAndADenialTurnsSharingOff() async throws {
        let client = try offlineClient()
        let ask = try await LocationSharing.switched(true, access: .notDetermined, client: client, .ja)
        XCTAssertEqual(ask.action, .requestAccess)
        let waiting = try await LocationSharing.accessChanged(.notDetermined, client: client, .ja)
        XCTAssertEqual(waiting.action, .unchanged)
        XCTAssertTrue(LocationSharing.isOn(client))
        let denied = try await LocationSharing.accessChanged(.denied, client: client, .ja)
        XCTAssertEqual(denied.action, .stopUpdates)
        XCTAssertEqual(denied.message, "位置情報の利用が許可されていないため、位置情報の共有をオフにしました。設定アプリで許可できます。")
        XCTAssertFalse(LocationSharing.isOn(client))
    }

    func testAtStartSharingWithoutAccessGoesOffQuietly() async throws {
        let client = try offlineClient()
        XCTAssertTrue(LocationSharing.isOn(client), "a new account shares by default")
        let first = try await LocationSharing.resumed(.notDetermined, client: client)
        XCTAssertEqual(first, .stopUpdates)
        XCTAssertFalse(LocationSharing.isOn(client), "the switch shows off until the person turns it on")
        let later = try await LocationSharing.accessChanged(.always, client: client, .en)
        XCTAssertEqual(later.action, .stopUpdates, "access alone does not turn sharing on")
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
