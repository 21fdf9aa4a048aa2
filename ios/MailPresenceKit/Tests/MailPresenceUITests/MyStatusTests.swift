// The My status screen over the real core: the five choices with the current
// one highlighted, note, a status that ends by itself, plans from the picker
// and presets, the core's events followed without a refresh, errors.
import Foundation
import MailPresence
@testable import MailPresenceUI
import XCTest

/// Waits up to five seconds, on the main actor, for what the core's events will make true.
@MainActor
func eventuallyOnMain(_ what: String, _ condition: () -> Bool) async throws {
    let until = Date().addingTimeInterval(5)
    while !condition() {
        if Date() > until { XCTFail("never: \(what)"); return }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
}

func nowUnix() -> Int64 { Int64(Date().timeIntervalSince1970) }

/// Runs a test's body on the main actor, where the screen models live. The
/// test methods themselves stay nonisolated: Linux's test discovery lists
/// them from a nonisolated context.
func onMain(_ body: @escaping @MainActor @Sendable () async throws -> Void) async throws {
    try await Task { @MainActor in try await body() }.value
}

let tokyo = TimeZone(identifier: "Asia/Tokyo")!

final class MyStatusTests: XCTestCase {
    func testMyStatusActivityPlaceAndPlansThroughTheCoreKeptWhileOffline() async throws { try await onMain { try await Self.myStatusActivityPlaceAndPlansThroughTheCoreKeptWhileOffline() } }

    @MainActor
    static func myStatusActivityPlaceAndPlansThroughTheCoreKeptWhileOffline() async throws {
        let client = try offlineClient()
        try await client.setLocationSharing(untilUnix: nil, workingHours: nil, shareCoordinates: false)
        let state = try MyStatusModel(client: client, lang: .ja)
        XCTAssertEqual(state.ui.activity, "在席")
        XCTAssertEqual(state.ui.location, "位置情報なし")
        XCTAssertEqual(state.ui.lastPublish, "最終送信: たった今")
        await state.setActivity(.onSite, note: "設備点検中")
        XCTAssertEqual(state.ui.activity, "現場作業中（設備点検中）")
        XCTAssertEqual(state.ui.note, "設備点検中")
        XCTAssertEqual(state.ui.pending, "送信待ち 2件")
        XCTAssertNil(state.ui.error)
        await state.locationFix(lat: 35.0394, lon: 135.7292, accuracyM: 8)
        XCTAssertEqual(state.ui.location, "京都府京都市北区")
        await state.addPlan("15:00 帰社予定")
        XCTAssertEqual(state.ui.plans, ["15:00 帰社予定"])
        XCTAssertEqual(state.ui.pending, "送信待ち 4件")
    }

    func testFiveShortChoicesTheCurrentOneHighlightedInBothLanguages() async throws { try await onMain { try await Self.fiveShortChoicesTheCurrentOneHighlightedInBothLanguages() } }

    @MainActor
    static func fiveShortChoicesTheCurrentOneHighlightedInBothLanguages() async throws {
        let state = try MyStatusModel(client: try offlineClient(), lang: .ja)
        XCTAssertEqual(state.ui.choices.map(\.label), ["在席", "現場", "運転中", "会議", "休憩"])
        XCTAssertEqual(state.ui.choices.filter(\.selected).map(\.kind), [.available])
        await state.setActivity(.meeting, note: nil)
        XCTAssertEqual(state.ui.choices.filter(\.selected).map(\.kind), [.meeting])
        let english = StatusChoices.kinds.map { StatusChoices.label($0, .en) }
        XCTAssertEqual(english, ["Free", "On site", "Driving", "Meeting", "Break"])
        // Five buttons in a row on a 320 pt phone: at most 7 half-width cells each.
        for label in english + state.ui.choices.map(\.label) {
            XCTAssertLessThanOrEqual(StatusChoices.cells(label), 7, "\(label) is too wide")
        }
    }

    func testAStatusUntilATimeSaysSoAndEndsByItselfBackToTheOneBeforeTheScreenFollowing() async throws { try await onMain { try await Self.aStatusUntilATimeSaysSoAndEndsByItselfBackToTheOneBeforeTheScreenFollowing() } }

    @MainActor
    static func aStatusUntilATimeSaysSoAndEndsByItselfBackToTheOneBeforeTheScreenFollowing() async throws {
        let client = try offlineClient()
        let events = PresenceEvents()
        client.setListener(listener: events)
        let state = try MyStatusModel(client: client, lang: .ja)
        let subscription = events.add(state.listener())
        await state.setActivity(.onSite, note: "設備点検中")
        let inAnHour = StatusTime.clockOf(nowUnix() + 3600, zone: .current)
        await state.setActivity(.meeting, note: "部長会議", until: inAnHour)
        XCTAssertEqual(state.ui.activity, "会議中（部長会議）")
        XCTAssertEqual(state.ui.endsAt, "\(inAnHour)まで")

        // The core's clock runs with the loops; an end two seconds away.
        client.start()
        try await client.setStatus(activity: .meeting, text: "部長会議", untilUnix: nowUnix() + 2)
        try await eventuallyOnMain("the meeting ended by itself and the screen shows the status before") {
            state.ui.activity == "現場作業中（設備点検中）" && state.ui.endsAt == nil
        }
        XCTAssertEqual(state.ui.choices.filter(\.selected).map(\.kind), [.onSite])
        client.stop()
        subscription.cancel()
    }

    func testAnEndThatHasPassedIsRefusedByTheCoreAndChangesNothing() async throws { try await onMain { try await Self.anEndThatHasPassedIsRefusedByTheCoreAndChangesNothing() } }

    @MainActor
    static func anEndThatHasPassedIsRefusedByTheCoreAndChangesNothing() async throws {
        let client = try offlineClient()
        do {
            try await client.setStatus(activity: .meeting, text: nil, untilUnix: nowUnix() - 60)
            XCTFail("an end in the past was taken")
        } catch let e as PresenceError {
            guard case .InvalidInput = e else { return XCTFail("\(e)") }
            XCTAssertEqual(ErrorText.of(e, .en), "Please check what you entered.")
        }
        let state = try MyStatusModel(client: client, lang: .en)
        XCTAssertNil(state.ui.endsAt)
        XCTAssertEqual(state.ui.activity, "available")
        XCTAssertNil(state.ui.pending)
    }

    func testTheReturnTimeFromThePickerAndThePresetsBecomePlansAndPlansClear() async throws { try await onMain { try await Self.theReturnTimeFromThePickerAndThePresetsBecomePlansAndPlansClear() } }

    @MainActor
    static func theReturnTimeFromThePickerAndThePresetsBecomePlansAndPlansClear() async throws {
        let state = try MyStatusModel(client: try offlineClient(), lang: .ja)
        let fifteen = ClockTime(hour: 15, minute: 0)!
        XCTAssertEqual(state.presets(returnAt: fifteen).map(\.label), ["15:00 帰社", "直帰", "本日休み"])
        XCTAssertEqual(Plans.presets(returnAt: fifteen, .en).map(\.label), ["Back 15:00", "Straight home", "Off today"])
        await state.addReturn(fifteen)
        await state.addPreset(state.presets(returnAt: fifteen)[1])
        XCTAssertEqual(state.ui.plans, ["15:00 帰社予定", "直帰"])
        await state.clearPlans()
        XCTAssertEqual(state.ui.plans, [])
        let noon: Int64 = 1_795_662_000
        XCTAssertEqual(StatusTime.defaultReturn(nowUnix: noon + 70 * 60, zone: tokyo), fifteen)
        XCTAssertEqual(StatusTime.defaultReturn(nowUnix: noon + 630 * 60, zone: tokyo), ClockTime(hour: 23, minute: 0))
    }

    func testTheScreenFollowsTheCoresEventsWithoutARefresh() async throws { try await onMain { try await Self.theScreenFollowsTheCoresEventsWithoutARefresh() } }

    @MainActor
    static func theScreenFollowsTheCoresEventsWithoutARefresh() async throws {
        let client = try offlineClient()
        let events = PresenceEvents()
        let colleagues = ColleaguesStore(lang: .ja) { 0 }
        events.add(colleagues)
        client.setListener(listener: events)
        try await client.setLocationSharing(untilUnix: nil, workingHours: nil, shareCoordinates: false)
        let state = try MyStatusModel(client: client, lang: .ja)
        let subscription = events.add(state.listener())
        // Fixes come from the location updates, not from this screen.
        _ = try await client.locationFix(lat: 35.0394, lon: 135.7292, accuracyM: 8, timeUnixMs: nil)
        try await eventuallyOnMain("the published place is shown") { state.ui.location == "京都府京都市北区" }
        try await eventuallyOnMain("and the outbox") { state.ui.pending == "送信待ち 2件" }
        try await eventuallyOnMain("the other listeners hear it too") { colleagues.publishedLocation == "京都府京都市北区" }
        subscription.cancel()
        try await client.addSchedule(entry: "直帰")
        try await Task.sleep(nanoseconds: 300_000_000)
        XCTAssertEqual(state.ui.plans, [], "a cancelled subscription hears nothing")
    }

    func testAnEmptyStatusIsRefusedWithAMessageNotACrash() async throws { try await onMain { try await Self.anEmptyStatusIsRefusedWithAMessageNotACrash() } }

    @MainActor
    static func anEmptyStatusIsRefusedWithAMessageNotACrash() async throws {
        let state = try MyStatusModel(client: try offlineClient(), lang: .en)
        await state.setActivity(nil, note: "   ")
        XCTAssertEqual(state.ui.error, "Please check what you entered.")
        XCTAssertNil(state.ui.pending)
    }

    func testAFullOutboxSaysWhatToDoInBothLanguages() async throws { try await onMain { try await Self.aFullOutboxSaysWhatToDoInBothLanguages() } }

    @MainActor
    static func aFullOutboxSaysWhatToDoInBothLanguages() async throws {
        let state = try MyStatusModel(client: try offlineClient(), lang: .ja)
        for i in 0..<Int(ErrorText.outboxFull) { await state.addPlan("\(i)件目") }
        XCTAssertTrue(state.ui.outboxFull)
        XCTAssertEqual(state.ui.pending, "送信待ちのメールが20件たまっています。しばらく送信できていません。電波の良い場所でアプリを開いてください。続く場合はアカウント画面の「接続テスト」で原因を確認してください。")
        XCTAssertEqual(ErrorText.outbox(20, .en), "20 mails are waiting: nothing has gone out for a while. Open the app where the network is good; if it goes on, use Test connection on the Account screen to see why.")
        XCTAssertEqual(ErrorText.outbox(19, .en), "19 waiting to be sent")
        XCTAssertNil(ErrorText.outbox(0, .ja))
    }

    func testTimesOfDayAreTheNextSuchMomentInThePhonesZone() {
        // 2026-11-26 12:00 in Tokyo.
        let noon: Int64 = 1_795_662_000
        XCTAssertEqual(StatusTime.clockOf(noon, zone: tokyo), ClockTime(hour: 12, minute: 0))
        XCTAssertEqual(StatusTime.nextUnix(ClockTime(hour: 15, minute: 0)!, nowUnix: noon, zone: tokyo), noon + 3 * 3600)
        XCTAssertEqual(StatusTime.nextUnix(ClockTime(hour: 9, minute: 0)!, nowUnix: noon, zone: tokyo), noon + 21 * 3600, "tomorrow morning")
        XCTAssertEqual(StatusTime.until(noon + 3 * 3600, zone: tokyo, .ja), "15:00まで")
        XCTAssertEqual(StatusTime.until(noon + 3 * 3600, zone: tokyo, .en), "until 15:00")
        XCTAssertEqual(ClockTime(parsing: "9:05"), ClockTime(hour: 9, minute: 5))
        XCTAssertNil(ClockTime(parsing: "25:00"))
        XCTAssertNil(ClockTime(parsing: "3時"))
    }
}
