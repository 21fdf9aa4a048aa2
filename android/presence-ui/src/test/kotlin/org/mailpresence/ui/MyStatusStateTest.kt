// The My status screen over the real core: the five choices with the current
// one highlighted, note, a status that ends by itself, plans from the picker
// and presets, the core's events followed without a refresh, errors.
package org.mailpresence.ui

import java.util.TimeZone
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.mailpresence.protocol.ActivityToken

class MyStatusStateTest {
    private val tokyo = TimeZone.getTimeZone("Asia/Tokyo")

    @Test fun `my status - activity, place and plans through the core, kept while offline`() {
        val client = offlineClient()
        runBlocking { client.setLocationSharing(null, null, false) }
        val state = MyStatusState(client, Lang.JA)
        assertEquals("在席", state.ui.activity)
        assertEquals("位置情報なし", state.ui.location)
        assertEquals("最終送信: たった今", state.ui.lastPublish)
        runBlocking { state.setActivity(ActivityToken.ON_SITE, "設備点検中") }
        assertEquals("現場作業中（設備点検中）", state.ui.activity)
        assertEquals("設備点検中", state.ui.note)
        assertEquals("送信待ち 2件", state.ui.pending)
        assertNull(state.ui.error)
        runBlocking { state.locationFix(35.0394, 135.7292, 8.0) }
        assertEquals("京都府京都市北区", state.ui.location)
        runBlocking { state.addPlan("15:00 帰社予定") }
        assertEquals(listOf("15:00 帰社予定"), state.ui.plans)
        assertEquals("送信待ち 4件", state.ui.pending)
        client.close()
    }

    @Test fun `five short choices, the current one highlighted, in both languages`() {
        val state = MyStatusState(offlineClient(), Lang.JA)
        assertEquals(listOf("在席", "現場", "運転中", "会議", "休憩"), state.ui.choices.map { it.label })
        assertEquals(listOf(ActivityToken.AVAILABLE), state.ui.choices.filter { it.selected }.map { it.kind })
        runBlocking { state.setActivity(ActivityToken.MEETING, null) }
        assertEquals(listOf(ActivityToken.MEETING), state.ui.choices.filter { it.selected }.map { it.kind })
        val english = StatusChoices.kinds.map { StatusChoices.label(it, Lang.EN) }
        assertEquals(listOf("Free", "On site", "Driving", "Meeting", "Break"), english)
        // Five buttons in a row on a 320 dp phone: at most 7 half-width cells each.
        for (label in english + state.ui.choices.map { it.label }) {
            assertTrue("$label is too wide", StatusChoices.cells(label) <= 7)
        }
    }

    @Test fun `a status until a time says so, and ends by itself back to the one before, the screen following`() {
        val client = offlineClient()
        val events = PresenceEvents()
        client.setListener(events)
        val state = MyStatusState(client, Lang.JA)
        events.add(state)
        runBlocking { state.setActivity(ActivityToken.ON_SITE, "設備点検中") }
        val inAnHour = StatusTime.clockOf(System.currentTimeMillis() / 1000 + 3600, TimeZone.getDefault())
        runBlocking { state.setActivity(ActivityToken.MEETING, "部長会議", until = inAnHour) }
        assertEquals("会議中（部長会議）", state.ui.activity)
        assertEquals("${inAnHour}まで", state.ui.endsAt)

        // The core's clock runs with the loops; an end two seconds away.
        client.start()
        runBlocking { client.setStatus(ActivityToken.MEETING, "部長会議", System.currentTimeMillis() / 1000 + 2) }
        eventually("the meeting ended by itself and the screen shows the status before") {
            state.updates.value.activity == "現場作業中（設備点検中）" && state.updates.value.endsAt == null
        }
        assertEquals(listOf(ActivityToken.ON_SITE), state.updates.value.choices.filter { it.selected }.map { it.kind })
        client.stop()
        client.close()
    }

    @Test fun `an end that has passed is refused by the core and changes nothing`() {
        val client = offlineClient()
        val refused = try {
            runBlocking { client.setStatus(ActivityToken.MEETING, null, System.currentTimeMillis() / 1000 - 60) }; null
        } catch (e: org.mailpresence.PresenceException) { e }
        assertTrue("$refused", refused is org.mailpresence.PresenceException.InvalidInput)
        assertEquals("Please check what you entered.", ErrorText.of(refused!!, Lang.EN))
        val state = MyStatusState(client, Lang.EN)
        assertNull(state.ui.endsAt)
        assertEquals("available", state.ui.activity)
        assertNull(state.ui.pending)
        client.close()
    }

    @Test fun `the return time from the picker and the presets become plans, and plans clear`() {
        val state = MyStatusState(offlineClient(), Lang.JA)
        assertEquals(listOf("15:00 帰社", "直帰", "本日休み"), state.presets(ClockTime(15, 0)).map { it.label })
        assertEquals(listOf("Back 15:00", "Straight home", "Off today"), Plans.presets(ClockTime(15, 0), Lang.EN).map { it.label })
        runBlocking { state.addReturn(ClockTime(15, 0)) }
        runBlocking { state.addPreset(state.presets(ClockTime(15, 0))[1]) }
        assertEquals(listOf("15:00 帰社予定", "直帰"), state.ui.plans)
        runBlocking { state.clearPlans() }
        assertEquals(emptyList<String>(), state.ui.plans)
        val noon = 1_795_662_000L
        assertEquals(ClockTime(15, 0), StatusTime.defaultReturn(noon + 70 * 60, tokyo))
        assertEquals(ClockTime(23, 0), StatusTime.defaultReturn(noon + 630 * 60, tokyo))
    }

    @Test fun `the screen follows the core's events without a refresh`() {
        val client = offlineClient()
        val events = PresenceEvents()
        val colleagues = ColleaguesState(Lang.JA)
        events.add(colleagues)
        client.setListener(events)
        runBlocking { client.setLocationSharing(null, null, false) }
        val state = MyStatusState(client, Lang.JA)
        val subscription = events.add(state)
        // Fixes come from the location service, not from this screen.
        runBlocking { client.locationFix(35.0394, 135.7292, 8.0, null) }
        eventually("the published place is shown") { state.updates.value.location == "京都府京都市北区" }
        eventually("and the outbox") { state.updates.value.pending == "送信待ち 2件" }
        eventually("the other listeners hear it too") { colleagues.publishedLocation.value == "京都府京都市北区" }
        subscription.close()
        runBlocking { client.addSchedule("直帰") }
        Thread.sleep(300)
        assertEquals("a closed subscription hears nothing", emptyList<String>(), state.updates.value.plans)
        client.close()
    }

    @Test fun `an empty status is refused with a message, not a crash`() {
        val state = MyStatusState(offlineClient(), Lang.EN)
        runBlocking { state.setActivity(null, "   ") }
        assertEquals("Please check what you entered.", state.ui.error)
        assertNull(state.ui.pending)
    }

    @Test fun `a full outbox says what to do, in both languages`() {
        val state = MyStatusState(offlineClient(), Lang.JA)
        repeat(ErrorText.OUTBOX_FULL.toInt()) { runBlocking { state.addPlan("${it}件目") } }
        assertTrue(state.ui.outboxFull)
        assertEquals(
            "送信待ちのメールが20件たまっています。しばらく送信できていません。電波の良い場所でアプリを開いてください。続く場合はアカウント画面の「接続テスト」で原因を確認してください。",
            state.ui.pending,
        )
        assertEquals(
            "20 mails are waiting: nothing has gone out for a while. Open the app where the network is good; if it goes on, use Test connection on the Account screen to see why.",
            ErrorText.outbox(20u, Lang.EN),
        )
        assertEquals("19 waiting to be sent", ErrorText.outbox(19u, Lang.EN))
        assertNull(ErrorText.outbox(0u, Lang.JA))
    }

    @Test fun `times of day are the next such moment in the phone's zone`() {
        // 2026-11-26 12:00 in Tokyo.
        val noon = 1_795_662_000L
        assertEquals(ClockTime(12, 0), StatusTime.clockOf(noon, tokyo))
        assertEquals(noon + 3 * 3600, StatusTime.nextUnix(ClockTime(15, 0), noon, tokyo))
        assertEquals("tomorrow morning", noon + 21 * 3600, StatusTime.nextUnix(ClockTime(9, 0), noon, tokyo))
        assertEquals("15:00まで", StatusTime.until(noon + 3 * 3600, tokyo, Lang.JA))
        assertEquals("until 15:00", StatusTime.until(noon + 3 * 3600, tokyo, Lang.EN))
        assertEquals(ClockTime(9, 5), ClockTime.parse("9:05"))
        assertNull(ClockTime.parse("25:00"))
        assertNull(ClockTime.parse("3時"))
    }
}
