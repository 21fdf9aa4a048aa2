// The Account screen's form: the TLS mode each port needs (picked by the
// form, a mismatch refused), the company CA file, how a Notify is proven,
// and the text fields the app draws, typed exactly (no autocorrect, no
// capitals) where they hold hosts, addresses and keys.
import Foundation
import MailPresence
@testable import MailPresenceUI
import XCTest

final class AccountFormTests: XCTestCase {
    var good: AccountForm {
        var f = AccountForm()
        f.account = "tanaka"; f.mail = "tanaka@example.co.jp"; f.password = "pw"
        f.presenceServer = "presence@example.co.jp"; f.mailHost = "mail.example.co.jp"; f.authservId = "mx.example.co.jp"
        return f
    }

    func testPort465PicksSslTlsAndAMismatchIsRefusedWithWhatToDo() {
        let smtps = good.withSmtpPort("465")
        XCTAssertEqual(smtps.smtpSecurity, .implicit)
        XCTAssertEqual(smtps.problems(.ja), [])
        var mismatch = smtps
        mismatch.smtpSecurity = .starttls
        XCTAssertEqual(mismatch.problems(.ja), [AccountForm.Problem(field: .smtpSecurity, text: "ポート465は SSL/TLS（接続時から暗号化）が必要です")])
        var implicit587 = good
        implicit587.smtpSecurity = .implicit
        XCTAssertEqual(implicit587.problems(.en).map(\.text), ["Port 587 starts TLS with STARTTLS; SSL/TLS uses port 465"])
        XCTAssertEqual(good.withImapPort("143").imapSecurity, .starttls)
        var starttls993 = good
        starttls993.imapSecurity = .starttls
        XCTAssertEqual(starttls993.problems(.en).map(\.field), [.imapSecurity])
        // Choosing the mode brings the well-known port along; other ports stay.
        XCTAssertEqual(good.withSmtpSecurity(.implicit).smtpPort, "465")
        XCTAssertEqual(good.withImapSecurity(.starttls).imapPort, "143")
        var custom = good
        custom.smtpPort = "2525"
        XCTAssertEqual(custom.withSmtpSecurity(.implicit).smtpPort, "2525")
        XCTAssertEqual(good.with(.smtpPort, "465").smtpSecurity, .implicit)
    }

    func testNoEncryptionIsRefusedExceptOnThisPhonesOwnLoopback() {
        var plain = good
        plain.imapPort = "1143"
        plain.imapSecurity = TlsMode.none
        XCTAssertEqual(plain.problems(.en).first { $0.field == .imapSecurity }?.text,
                       "Without encryption the password goes out as it is. Choose SSL/TLS or STARTTLS")
        plain.mailHost = "127.0.0.1"
        XCTAssertEqual(plain.problems(.en), [])
        XCTAssertEqual(AccountForm.securityChoices(.ja).count, 3)
        XCTAssertEqual(AccountForm.securityChoices(.ja).last?.1, "なし（暗号化しない）")
    }

    func testACompanyCaFileGoesToBothServersAndAFileWithoutACertificateIsRefused() throws {
        let dir = URL(fileURLWithPath: tempDir())
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let notPem = dir.appendingPathComponent("readme.txt")
        try Data("not a certificate".utf8).write(to: notPem)
        var refused = good
        refused.caFile = notPem.path
        XCTAssertEqual(refused.problems(.ja).map(\.field), [.caFile])
        var missing = good
        missing.caFile = dir.appendingPathComponent("missing.pem").path
        XCTAssertEqual(missing.problems(.en).map(\.field), [.caFile])
        let pem = dir.appendingPathComponent("company-ca.pem")
        try Data("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8).write(to: pem)
        var form = good
        form.caFile = pem.path
        XCTAssertEqual(form.problems(.ja), [])
        let config = form.config(.ja)
        XCTAssertEqual(config.imap.caFile, pem.path)
        XCTAssertEqual(config.smtp.caFile, pem.path)
        XCTAssertNil(good.config(.ja).imap.caFile)
    }

    func testANotifyIsProvenByTheServerKeyOrTheMailSystemsAuthservId() {
        let key = String(repeating: "A", count: 43)
        var enrolled = good
        enrolled.authservId = ""
        enrolled.serverKey = key
        XCTAssertEqual(enrolled.problems(.ja), [], "with the server key the authserv-id may be left out")
        XCTAssertEqual(enrolled.config(.ja).serverKey, key)
        XCTAssertNil(enrolled.config(.ja).authservId)
        XCTAssertEqual(enrolled.proof(.ja), "プレゼンスサーバーの署名で確認します（登録済み）")
        XCTAssertEqual(good.proof(.en), "Proven by the company mail system's verdict (authserv-id)")
        var badKey = good
        badKey.serverKey = "not a key"
        XCTAssertEqual(badKey.problems(.en).map(\.field), [.serverKey])
        var noProof = good
        noProof.authservId = ""
        XCTAssertEqual(noProof.problems(.en).map(\.field), [.authservId])
    }

    func testTheTextFieldsTheAppDrawsAreTypedExactlyAndThePasswordGoesWithASignIn() {
        let fields = good.fields(.ja)
        XCTAssertTrue(fields.allSatisfy { !$0.autoCorrect && !$0.autoCapitalize })
        XCTAssertEqual(fields.first { $0.field == .mailHost }?.input, .host)
        XCTAssertEqual(fields.first { $0.field == .mail }?.input, .mailAddress)
        XCTAssertEqual(fields.first { $0.field == .password }?.input, .password)
        XCTAssertEqual(fields.first { $0.field == .mailHost }?.label, "メールサーバー")
        XCTAssertEqual(good.fields(.en).first { $0.field == .mailHost }?.label, "Mail server")
        var signedIn = good
        signedIn.signIn = ProviderConfig(provider: .microsoft, clientId: "00000000-1111-2222-3333-444444444444", tenant: "example.co.jp",
                                         scopes: nil, authorizeUrl: nil, tokenUrl: nil, deviceAuthorizationUrl: nil, revocationUrl: nil)
        XCTAssertFalse(signedIn.fields(.en).contains { $0.field == .password })
        // Every field the app draws reads and writes its own value.
        var form = AccountForm()
        for spec in fields { form = form.with(spec.field, "x-\(spec.field)") }
        for spec in fields { XCTAssertEqual(form.value(spec.field), "x-\(spec.field)") }
    }
}
