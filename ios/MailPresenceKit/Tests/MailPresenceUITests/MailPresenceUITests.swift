// The iOS app's plain-Swift layer, on Linux, against the real core library
// through the generated bindings: what a person sees on screen.
import Foundation
import MailPresence
@testable import MailPresenceUI
import XCTest

let repoRoot = URL(fileURLWithPath: ProcessInfo.processInfo.environment["MAILPRESENCE_REPO"] ?? "../..")

/// Yamada in a meeting, as the golden Notify (protocol/tests/golden/notify-from-server.eml)
/// carries him, made into the app's view by the real core.
func yamadaInAMeeting(_ language: String = "ja") throws -> PresenceView {
    try presenceView(account: "yamada", contact: "sip:yamada@pbx.example.co.jp", activity: .meeting,
                     activityText: "部長会議", location: nil, schedule: ["13:00-15:00 部長会議", "15:00 在席予定"],
                     updatedUnix: 1_795_665_480, language: language)
}

/// An account whose mail server is not there: everything stays on the phone.
func offlineClient() throws -> PresenceClient {
    let server = MailServer(host: "127.0.0.1", port: 1, tls: .none, user: "tanaka@example.test", password: "pw", caFile: nil)
    let config = AccountConfig(account: "tanaka", mail: "tanaka@example.test", presenceServer: "presence@example.test",
                               language: "ja", imap: server, smtp: server, granularity: .city)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mailpresence-\(UUID().uuidString)").path
    let pack = try Data(contentsOf: repoRoot.appendingPathComponent("assets/mappack.bin"))
    let client = try PresenceClient(config: config, storageDir: dir, mapPack: pack)
    client.networkChanged(online: false)
    return client
}

final class MailPresenceUITests: XCTestCase {
    func testAColleaguesPresenceFromTheCoreBecomesTheRowTheListShows() throws {
        let p = try yamadaInAMeeting("ja")
        let now = p.updatedUnix! + 300
        XCTAssertEqual(PresenceFormat.row(p, nowUnix: now, .ja), "会議中（部長会議） · 13:00-15:00 部長会議 · 5分前")
        XCTAssertEqual(PresenceFormat.row(p, nowUnix: now, .en), "in a meeting (部長会議) · 13:00-15:00 部長会議 · 5 min ago")
    }

    func testANameTheCoreRefusesIsAnErrorInWords() {
        XCTAssertThrowsError(try presenceView(account: "田中 太郎", contact: "tanaka@example.test", activity: nil,
                                              activityText: "外出中", location: nil, schedule: [], updatedUnix: nil,
                                              language: "ja")) { error in
            guard let e = error as? PresenceError, case .InvalidInput = e else { return XCTFail("\(error)") }
            XCTAssertEqual(ErrorText.of(e, .ja), "入力内容を確認してください。")
        }
    }

    func testAgesReadNaturally() {
        XCTAssertEqual(PresenceFormat.age(updatedUnix: 1000, nowUnix: 1030, .ja), "たった今")
        XCTAssertEqual(PresenceFormat.age(updatedUnix: 0, nowUnix: 7200, .en), "2 h ago")
        XCTAssertEqual(PresenceFormat.age(updatedUnix: nil, nowUnix: 0, .ja), "時刻不明")
    }

    func testOwnStatusPlaceAndPlansThroughTheCoreKeptWhileOffline() async throws {
        let client = try offlineClient()
        try await client.setStatus(activity: .onSite, text: "設備点検中")
        let placed = try await client.locationFix(lat: 35.0394, lon: 135.7292, accuracyM: 8, timeUnixMs: nil)
        XCTAssertEqual(placed, "京都府京都市北区")
        try await client.addSchedule(entry: "15:00 帰社予定")
        let own = try client.ownPresence()
        XCTAssertEqual(PresenceFormat.activity(own, .ja), "現場作業中（設備点検中）")
        XCTAssertEqual(own.location, "京都府京都市北区")
        XCTAssertEqual(own.schedule, ["15:00 帰社予定"])
        XCTAssertEqual(try client.outboxDepth(), 3, "waiting for the network")
    }

    func testTheAccountFormNamesEveryMistakeAndBuildsAConfigTheCoreAccepts() throws {
        var bad = AccountForm()
        bad.account = "田中 太郎"; bad.mail = "tanaka"; bad.presenceServer = "presence@"; bad.imapPort = "99999"
        XCTAssertEqual(Set(bad.problems(.en).map(\.field)), [.account, .mail, .password, .presenceServer, .mailHost, .imapPort, .authservId])
        var good = AccountForm()
        good.account = "tanaka"; good.mail = "tanaka@example.co.jp"; good.password = "pw"
        good.presenceServer = "presence@example.co.jp"; good.mailHost = "mail.example.co.jp"; good.authservId = "mx.example.co.jp"
        XCTAssertEqual(good.problems(.ja), [])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mailpresence-\(UUID().uuidString)").path
        let client = try PresenceClient(config: good.config(.ja), storageDir: dir, mapPack: nil)
        XCTAssertEqual(try client.ownPresence().account, "tanaka")
    }

    func testColleaguesArriveFromTheListenerOnABackgroundThread() throws {
        let p = try yamadaInAMeeting("ja")
        let now = p.updatedUnix! + 60
        let store = ColleaguesStore(lang: .ja) { now }
        let done = expectation(description: "listener called")
        let changed = expectation(description: "the app is told to redraw")
        store.onChange = { changed.fulfill() }
        Thread.detachNewThread {
            store.onColleague(colleague: ColleaguePresence(presence: p, receivedUnix: now))
            done.fulfill()
        }
        wait(for: [done, changed], timeout: 5)
        store.onChange = nil
        XCTAssertEqual(store.rows().map(\.text), ["会議中（部長会議） · 13:00-15:00 部長会議 · 1分前"])
        store.onConnection(status: .failed(error: .WrongPassword(detail: "535")))
        XCTAssertEqual(store.connection, "メールサーバーにログインできません。ユーザー名とパスワードを確認してください。")
    }

    func testListenerEventsEachCarryWhatTheyKnow() async throws {
        let client = try offlineClient()
        let store = ColleaguesStore(lang: .ja) { 0 }
        client.setListener(listener: store)
        try await client.setStatus(activity: .onSite, text: nil)
        try await eventually("the outbox holds the Publish") { store.outboxDepth == 1 }
        // Sharing is off until the worker turns it on (a Publish of its own).
        try await client.setLocationSharing(untilUnix: nil, workingHours: nil, shareCoordinates: false)
        try await eventually("the outbox holds both") { store.outboxDepth == 2 }
        XCTAssertNil(store.publishedLocation)
        _ = try await client.locationFix(lat: 35.0394, lon: 135.7292, accuracyM: 8, timeUnixMs: nil)
        try await eventually("the place was published") { store.publishedLocation == "京都府京都市北区" }
        try await eventually("the outbox holds all three") { store.outboxDepth == 3 }
    }

    func testAWarningTheCoreWritesArrivesInTheAppsLogSink() throws {
        let sink = KeptLogs()
        setLogSink(sink: sink, level: .warn)
        var form = AccountForm()
        form.account = "tanaka"; form.mail = "tanaka@example.co.jp"; form.password = "pw"
        form.presenceServer = "presence@example.co.jp"; form.mailHost = "mail.example.co.jp"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mailpresence-\(UUID().uuidString)").path
        _ = try PresenceClient(config: form.config(.ja), storageDir: dir, mapPack: nil)
        setLogSink(sink: nil, level: .warn)
        let records = sink.all
        let warning = records.first { $0.message.contains("no map pack") }
        XCTAssertEqual(warning?.level, .warn, "\(records)")
        XCTAssertTrue(warning?.target.hasPrefix("mailpresence_core") ?? false, "\(records)")
        XCTAssertFalse(records.contains { $0.level == .info || $0.level == .debug }, "\(records)")
    }

    func testPrintingAnAccountNeverShowsItsPassword() {
        let server = MailServer(host: "mail.example.co.jp", port: 993, tls: .implicit, user: "tanaka", password: "s3cret-パス", caFile: nil)
        let config = AccountConfig(account: "tanaka", mail: "tanaka@example.co.jp", presenceServer: "presence@example.co.jp",
                                   language: "ja", imap: server, smtp: server, granularity: .city)
        var form = AccountForm()
        form.account = "tanaka"; form.password = "s3cret-パス"
        var dumped = ["", "", ""]
        dump(server, to: &dumped[0]); dump(config, to: &dumped[1]); dump(form, to: &dumped[2])
        for shown in [String(describing: server), String(reflecting: server), "\(config)", String(reflecting: config)] + dumped {
            XCTAssertFalse(shown.contains("s3cret"), shown)
        }
        XCTAssertTrue(dumped[1].contains("mail.example.co.jp") && dumped[2].contains("tanaka"), "\(dumped)")
        XCTAssertTrue(String(describing: server).contains("tanaka"))
        XCTAssertEqual(server.password, "s3cret-パス")
    }

    func testTheAboutScreenListsTheMapDataSources() throws {
        XCTAssertTrue(try offlineClient().attributions().contains { $0.contains("GeoNames") && $0.contains("CC BY 4.0") })
    }
}

/// The app's side of the log sink, as a test keeps it.
final class KeptLogs: LogSink, @unchecked Sendable {
    private let lock = NSLock()
    private var records: [LogRecord] = []
    func log(record: LogRecord) { lock.lock(); records.append(record); lock.unlock() }
    var all: [LogRecord] { lock.lock(); defer { lock.unlock() }; return records }
}

/// Waits up to five seconds for what a background thread will make true.
func eventually(_ what: String, _ condition: () -> Bool) async throws {
    let until = Date().addingTimeInterval(5)
    while !condition() {
        if Date() > until { XCTFail("never: \(what)"); return }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
}
