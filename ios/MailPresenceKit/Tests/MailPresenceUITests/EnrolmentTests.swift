// A phone set up from one scan: the enrolment code (made by the real server
// binary, scripts/enrolment-code.sh, passed by scripts/test-swift.sh as
// MAILPRESENCE_ENROL_CODE) read through the core, the account form filled
// from it, the device key kept by the app's storage, and the Enrol and
// Publish mails signed with it.
import Foundation
import MailPresence
@testable import MailPresenceUI
import XCTest

final class MemoryKeys: DeviceKeyStorage, @unchecked Sendable {
    private let lock = NSLock()
    private var key: String?
    var current: String? { lock.lock(); defer { lock.unlock() }; return key }
    func load() -> String? { current }
    func save(key: String) { lock.lock(); self.key = key; lock.unlock() }
}

final class EnrolmentTests: XCTestCase {
    let code = ProcessInfo.processInfo.environment["MAILPRESENCE_ENROL_CODE"] ?? ""

    func testAScannedCodeFillsTheFormAndLeavesOnlyTheSignIn() throws {
        let read = try readEnrolmentCode(code: code)
        let form = AccountForm.fromEnrolment(read)
        XCTAssertEqual(form.account, "tanaka")
        XCTAssertEqual(form.mail, "tanaka@example.co.jp")
        XCTAssertEqual(form.presenceServer, "presence@example.co.jp")
        XCTAssertEqual(form.mailHost, "outlook.office365.com")
        XCTAssertEqual(form.imapSecurity, .implicit)
        XCTAssertEqual(form.smtpHost, "smtp.office365.com")
        XCTAssertEqual(form.smtpPort, "587")
        XCTAssertEqual(form.smtpSecurity, .starttls)
        XCTAssertEqual(form.authservId, "mx.example.co.jp")
        XCTAssertEqual(form.signIn?.provider, .microsoft)
        XCTAssertEqual(form.signIn?.tenant, "example.co.jp")
        XCTAssertEqual(form.problems(.ja), [], "Microsoft 365: no password to type")
        let config = form.config(.ja)
        XCTAssertEqual(config.serverKey, read.serverKey)
        XCTAssertEqual(config.smtp.host, "smtp.office365.com")
        XCTAssertNotNil(read.serverKeyFingerprint.range(of: "^([0-9A-F]{4} ){4}[0-9A-F]{4}$", options: .regularExpression))
    }

    func testAChangedOrForeignCodeIsRefusedInWords() {
        let chars = Array(code)
        var changed = chars
        let i = chars.count / 2
        changed[i] = chars[i] == "A" ? "B" : "A"
        for (bad, why) in [(String(changed), "changed"), ("https://example.co.jp/", "not a MailPresence enrolment code")] {
            XCTAssertThrowsError(try readEnrolmentCode(code: bad)) { error in
                guard case let PresenceError.InvalidInput(detail) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(detail.contains(why), detail)
            }
        }
    }

    func testTheDeviceKeyIsKeptByTheAppsStorageAndSignsTheEnrolAndEveryPublish() async throws {
        let keys = MemoryKeys()
        let client = try offlineClient()
        let id = try client.useDeviceKey(storage: keys)
        let kept = try XCTUnwrap(keys.current, "the new key went to the storage")
        let again = try offlineClient()
        XCTAssertEqual(try again.useDeviceKey(storage: keys), id, "the app restarted: the same key")
        XCTAssertEqual(keys.current, kept)

        try await client.enrol(token: try readEnrolmentCode(code: code).token, deviceName: "田中のiPhone")
        try await client.setStatus(activity: .onSite, text: "設備点検中")
        let queued = try client.queuedMails()
        XCTAssertEqual(queued.count, 2)
        XCTAssertTrue(queued[0].contains("Subject: Enrol"), queued[0])
        for mail in queued {
            XCTAssertTrue(mail.hasPrefix("MailPresence-Signature: v=1; k=\(id); t="), mail)
        }
        XCTAssertTrue(queued[1].contains("Subject: Publish"), queued[1])
    }
}
