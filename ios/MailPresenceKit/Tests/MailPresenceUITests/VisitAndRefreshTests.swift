// What the app's location and background-refresh handlers hand the core,
// against the real core: a visit's unknown times are never published, a
// visit that ended is not where the worker is, and a background refresh says
// "done" only when the core read the mailbox (the real Dovecot of
// scripts/mail-servers.sh, its port in MAILPRESENCE_IMAP_PORT).
import Foundation
import MailPresence
@testable import MailPresenceUI
import XCTest

final class VisitAndRefreshTests: XCTestCase {
    let arrived = Date(timeIntervalSince1970: 1_795_665_480.25)

    func testAVisitWithAnUnknownArrivalIsPublishedAsNowNotAsTheYearOne() async throws {
        XCTAssertEqual(VisitFix(arrival: .distantPast, departure: .distantFuture), .here(timeUnixMs: nil))
        XCTAssertEqual(VisitFix(arrival: arrived, departure: .distantFuture), .here(timeUnixMs: 1_795_665_480_250))
        guard case let .here(time) = VisitFix(arrival: .distantPast, departure: .distantFuture) else { return XCTFail("no fix") }
        let client = try offlineClient()
        let place = try await client.locationFix(lat: 35.0394, lon: 135.7292, accuracyM: 50, timeUnixMs: time)
        XCTAssertEqual(place, "京都府京都市北区")
        let updated = try XCTUnwrap(try client.ownPresence().updatedUnix)
        XCTAssertLessThan(abs(updated - Int64(Date().timeIntervalSince1970)), 60, "published as now")
    }

    func testAVisitThatEndedIsNotWhereTheWorkerIs() {
        XCTAssertEqual(VisitFix(arrival: arrived, departure: arrived.addingTimeInterval(1800)), .left)
        XCTAssertEqual(VisitFix(arrival: .distantPast, departure: arrived), .left)
    }

    func testABackgroundRefreshReportsSuccessOnlyWhenTheCoreReadTheMailbox() async throws {
        let noAccount = await BackgroundSync.run(nil)
        XCTAssertFalse(noAccount, "no account opened: nothing was read")
        let unreachable = await BackgroundSync.run(try offlineClient())
        XCTAssertFalse(unreachable, "the mail server did not answer")

        let port = try XCTUnwrap(ProcessInfo.processInfo.environment["MAILPRESENCE_IMAP_PORT"].flatMap(UInt16.init),
                                 "start the mail servers (scripts/mail-servers.sh) and pass MAILPRESENCE_IMAP_PORT")
        let server = MailServer(host: "127.0.0.1", port: port, tls: .none, user: "tanaka@example.test", password: "secret", caFile: nil)
        let config = AccountConfig(account: "tanaka", mail: "tanaka@example.test", presenceServer: "presence@example.test",
                                   language: "ja", imap: server, smtp: server, granularity: .city)
        let pack = try Data(contentsOf: repoRoot.appendingPathComponent("assets/mappack.bin"))
        let client = try PresenceClient(config: config, storageDir: tempDir(), mapPack: pack)
        let read = await BackgroundSync.run(client)
        XCTAssertTrue(read, "the real Dovecot was read")
        let wrongPassword = MailServer(host: "127.0.0.1", port: port, tls: .none, user: "tanaka@example.test", password: "wrong", caFile: nil)
        let refused = try PresenceClient(config: AccountConfig(account: "tanaka", mail: "tanaka@example.test", presenceServer: "presence@example.test",
                                                               language: "ja", imap: wrongPassword, smtp: wrongPassword, granularity: .city),
                                         storageDir: tempDir(), mapPack: pack)
        let loginRefused = await BackgroundSync.run(refused)
        XCTAssertFalse(loginRefused, "a refused login is not a refresh")
    }
}
