// "Test connection" against the real Dovecot and Postfix of
// scripts/mail-servers.sh (their ports in MAILPRESENCE_*_PORT, their CA at
// MAILPRESENCE_MAIL_CA; scripts/test-swift.sh passes them into the chroot):
// the form being edited is tested, not the saved account; a wrong password,
// an unreachable server and an untrusted certificate each get their own words.
import Foundation
import MailPresence
@testable import MailPresenceUI
import XCTest

final class TestConnectionTests: XCTestCase {
    func env(_ name: String) throws -> String {
        try XCTUnwrap(ProcessInfo.processInfo.environment[name],
                      "\(name) is not set: start the mail servers (scripts/mail-servers.sh start; scripts/test.sh does)")
    }

    /// Tanaka's account on the test servers, both over TLS from the start.
    func realForm() throws -> AccountForm {
        var f = AccountForm()
        f.account = "tanaka"; f.mail = "tanaka@example.test"; f.password = "secret"; f.presenceServer = "presence@example.test"
        f.mailHost = "127.0.0.1"
        f.imapPort = try env("MAILPRESENCE_IMAPS_PORT"); f.imapSecurity = .implicit
        f.smtpPort = try env("MAILPRESENCE_SMTPS_PORT"); f.smtpSecurity = .implicit
        f.authservId = "mx.example.test"; f.caFile = try env("MAILPRESENCE_MAIL_CA")
        return f
    }

    func session(_ lang: Lang = .ja) -> AccountSession {
        AccountSession(lang: lang, vault: MemoryVault(), listener: ColleaguesStore(lang: lang) { 0 }) { config in
            let client = try PresenceClient(config: config, storageDir: tempDir(), mapPack: nil)
            client.networkChanged(online: false)
            return client
        }
    }

    func testTheFormOnTheScreenPassesAgainstTheRealServersWhateverIsSaved() async throws {
        let s = session()
        XCTAssertEqual(s.save(offlineForm()), .saved)
        let passed = await s.test(try realForm())
        XCTAssertEqual(passed, .passed("メールサーバーに接続できました（受信・送信とも）。"))
        // STARTTLS on both, the submission port.
        var starttls = try realForm()
        starttls.imapPort = try env("MAILPRESENCE_IMAP_PORT"); starttls.imapSecurity = .starttls
        starttls.smtpPort = try env("MAILPRESENCE_SUBMISSION_PORT"); starttls.smtpSecurity = .starttls
        guard case .passed = await s.test(starttls) else { return XCTFail("STARTTLS did not pass") }
    }

    func testAWrongPasswordIsNamedThoughTheSavedAccountIsRight() async throws {
        let s = session()
        XCTAssertEqual(s.save(try realForm()), .saved)
        var wrong = try realForm()
        wrong.password = "not-the-password"
        let failed = await s.test(wrong)
        XCTAssertEqual(failed, .failed("メールサーバーにログインできません。ユーザー名とパスワードを確認してください。"))
    }

    func testAnUnreachableServerAndAnUntrustedCertificateEachHaveTheirWords() async throws {
        let s = session()
        var imapGone = try realForm()
        imapGone.imapPort = "1"
        let unreachable = await s.test(imapGone)
        XCTAssertEqual(unreachable, .failed("メールサーバーに接続できません。電波の良い場所で再度お試しください。送信は保留されています。"))
        var smtpGone = try realForm()
        smtpGone.smtpPort = "1"
        let smtpUnreachable = await s.test(smtpGone)
        XCTAssertEqual(smtpUnreachable, unreachable)
        var noCa = try realForm()
        noCa.caFile = ""
        guard case let .failed(text) = await s.test(noCa) else { return XCTFail("an untrusted certificate passed") }
        XCTAssertTrue(text.hasPrefix("メールサーバーの証明書を信頼できません。"), text)
        let english = await session(.en).test(imapGone)
        XCTAssertEqual(english, .failed("The mail server cannot be reached. Your changes wait and go out when the network is back."))
    }

    func testAFormWithMistakesIsNotTried() async throws {
        var mistaken = try realForm()
        mistaken.smtpPort = "465"
        mistaken.smtpSecurity = .starttls
        guard case let .problems(problems) = await session().test(mistaken) else { return XCTFail("tried") }
        XCTAssertEqual(problems.map(\.field), [.smtpSecurity])
    }
}
