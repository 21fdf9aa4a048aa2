// A field worker's day through the app's plain layer, against the real core,
// real Dovecot and Postfix (with OpenDKIM proving the server's mail) and a
// real presence server (scripts/presence-server.sh; scripts/test-swift.sh
// starts them and passes their ports): the same day as the Android app's
// FieldDayTest — followed colleagues back from the store after a restart,
// colleagues found by name and followed, the worker's status and plan at a
// colleague's phone and a colleague's change at the worker's, no place after
// sharing is off, and a wrong password and an unreachable server each told.
import Foundation
import MailPresence
@testable import MailPresenceUI
import XCTest

/// The test office's mail world, as scripts/test-swift.sh passes it.
private enum Office {
    static func env(_ name: String) -> String {
        guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else {
            XCTFail("\(name) is missing: run scripts/test-swift.sh, which starts the mail and presence servers")
            return ""
        }
        return v
    }

    static var domain: String { env("MAILPRESENCE_MAIL_DOMAIN") }

    /// A person's account form, as a worker (or their enrolment code) fills it in.
    static func form(_ account: String, password: String = "secret", imapPort: String? = nil) -> AccountForm {
        var f = AccountForm()
        f.account = account
        f.mail = "\(account)@\(domain)"
        f.password = password
        f.presenceServer = env("MAILPRESENCE_PRESENCE_ADDRESS")
        f.mailHost = "127.0.0.1"
        f.imapPort = imapPort ?? env("MAILPRESENCE_IMAP_PORT")
        f.imapSecurity = .starttls
        f.smtpPort = env("MAILPRESENCE_SUBMISSION_PORT")
        f.smtpSecurity = .starttls
        f.authservId = env("MAILPRESENCE_AUTHSERV_ID")
        return f
    }

    /// The company's CA, which the test mail servers' certificates come from.
    static func withCa(_ config: AccountConfig) -> AccountConfig {
        var c = config
        c.imap.caFile = env("MAILPRESENCE_MAIL_CA")
        c.smtp.caFile = env("MAILPRESENCE_MAIL_CA")
        return c
    }
}

/// The screens' clock: rows read the same before and after a restart.
private let fixedNow = Int64(Date().timeIntervalSince1970) + 60

/// One phone: its storage folder, its saved account, the screens' state.
private final class Phone {
    let form: AccountForm
    let dir: String
    let colleagues = ColleaguesStore(lang: .ja) { fixedNow }
    let session: AccountSession

    init(_ form: AccountForm, dir: String? = nil) throws {
        self.form = form
        let folder = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("mailpresence-phone-\(UUID().uuidString)").path
        self.dir = folder
        let pack = try Data(contentsOf: repoRoot.appendingPathComponent("assets/mappack.bin"))
        session = AccountSession(lang: .ja, vault: MemoryVault(form), listener: colleagues) { config in
            try PresenceClient(config: Office.withCa(config), storageDir: folder, mapPack: pack)
        }
    }

    var client: PresenceClient {
        get throws {
            guard let c = session.client else { throw NSError(domain: "no client", code: 1) }
            return c
        }
    }

    /// Opens the saved account, as the app does at launch.
    func launch() async throws -> Phone {
        XCTAssertNil(session.openSaved())
        try await colleagues.attach(try client)
        return self
    }

    func close() { session.close() }
}

/// Waits up to a minute for what mail through Postfix, Dovecot and the presence server will make true.
private func viaMail(_ what: String, _ condition: () -> Bool) async throws {
    let until = Date().addingTimeInterval(60)
    while !condition() {
        if Date() > until {
            XCTFail("never, within a minute: \(what)")
            throw NSError(domain: what, code: 1)
        }
        try await Task.sleep(nanoseconds: 100_000_000)
    }
}

final class FieldDayTests: XCTestCase {
    func testAFieldWorkersDay() async throws {
        let yamada = try await Phone(Office.form("yamada")).launch()
        var tanaka = try await Phone(Office.form("tanaka")).launch()
        defer { tanaka.close(); yamada.close() }

        // Morning: the directory arrives; two colleagues found by name and followed.
        try await viaMail("tanaka's phone has the directory") { (tanaka.colleagues.directory?.listed ?? 0) >= 3 }
        let byReading = try tanaka.colleagues.search("やまだ")
        XCTAssertEqual(byReading.map(\.entry.name), ["山田 花子"])
        let byRomaji = try tanaka.colleagues.search("suzuki")
        XCTAssertEqual(byRomaji.map(\.entry.name), ["鈴木 一郎"])
        let followError = await tanaka.colleagues.follow(["yamada", "suzuki"])
        XCTAssertNil(followError)
        XCTAssertEqual(tanaka.colleagues.followed, ["yamada", "suzuki"])
        XCTAssertEqual(try tanaka.colleagues.search("yamada").first?.following, true)
        XCTAssertEqual(tanaka.colleagues.contactActions("yamada").map(\.uri), ["tel:2301", "mailto:yamada@\(Office.domain)"])

        // 山田 follows 田中 from her phone; 田中 goes out, back at 15:00.
        let yamadaFollows = await yamada.colleagues.follow(["tanaka"])
        XCTAssertNil(yamadaFollows)
        try await tanaka.client.setStatus(activity: nil, text: "外出中")
        try await tanaka.client.addSchedule(entry: "15:00 帰社")
        try await viaMail("山田's phone shows 田中 out until 15:00") {
            yamada.colleagues.rows().contains { $0.account == "tanaka" && $0.text.contains("外出中") && $0.text.contains("15:00") && $0.text.contains("帰社") }
        }

        // 山田's meeting reaches 田中's phone.
        try await yamada.client.setStatus(activity: .meeting, text: "部長会議")
        try await viaMail("田中's phone shows 山田 in her meeting") {
            tanaka.colleagues.rows().contains { $0.account == "yamada" && $0.text.contains("会議中（部長会議）") }
        }
        let before = tanaka.colleagues.rows()
        XCTAssertEqual(before.map(\.name), ["山田 花子", "鈴木 一郎"])

        // The app is killed and opened again: the same screen at once, before any mail.
        tanaka.close()
        tanaka = try await Phone(tanaka.form, dir: tanaka.dir).launch()
        XCTAssertEqual(tanaka.colleagues.rows(), before)

        // Sharing on: 山田 sees where 田中 is; off: the next Publish carries no place.
        try await tanaka.client.setLocationSharing(untilUnix: nil, workingHours: nil, shareCoordinates: false)
        _ = try await tanaka.client.locationFix(lat: 35.6812, lon: 139.7671, accuracyM: 10, timeUnixMs: nil)
        try await viaMail("山田's phone shows where 田中 is") {
            yamada.colleagues.colleagues["tanaka"]?.presence.location?.contains("千代田区") == true
        }
        try await tanaka.client.setLocationSharing(untilUnix: Int64(Date().timeIntervalSince1970), workingHours: nil, shareCoordinates: false)
        try await tanaka.client.setStatus(activity: .driving, text: nil)
        try await viaMail("山田's phone shows 田中 driving, with no place") {
            let p = yamada.colleagues.colleagues["tanaka"]?.presence
            return p?.activity == .driving && p?.location == nil
        }
    }

    func testAWrongPasswordAndAnUnreachableServerEachSayWhatIsWrong() async throws {
        let wrong = try await Phone(Office.form("sato", password: "not-the-password")).launch()
        let away = try await Phone(Office.form("sato", imapPort: "1")).launch()
        defer { wrong.close(); away.close() }
        try await viaMail("the wrong password is told") {
            wrong.colleagues.connection?.contains("パスワード") == true
        }
        try await viaMail("the unreachable server is told") {
            away.colleagues.connection?.contains("接続できません") == true
        }
        XCTAssertNotEqual(wrong.colleagues.connection, away.colleagues.connection)
    }
}
