// The location-sharing screen over the real core: off until the worker turns
// it on, the permission steps (explain, ask, denied, denied for good, open
// Settings), the shift and "share until", the "sharing now" indicator, and
// the privacy promise: while off, no Publish carries a place.
package org.mailpresence.ui

import java.util.TimeZone
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.mailpresence.protocol.ActivityToken

class SharingTest {
    private fun now() = System.currentTimeMillis() / 1000

    @Test fun `a new account shares nothing until the worker turns sharing on`() {
        val client = offlineClient()
        val published = ColleaguesState(Lang.JA)
        client.setListener(published)
        val sharing = SharingState(client, Lang.JA)
        assertEquals(false, sharing.ui.on)
        assertEquals(false, sharing.ui.sharingNow)
        assertEquals("位置情報は共有していません", sharing.ui.indicator)
        runBlocking { client.locationFix(35.0394, 135.7292, 8.0, null) }
        eventually("the fix was published") { published.outboxDepth.value == 1u }
        assertNull("no place before sharing is on", published.publishedLocation.value)
        assertEquals("位置情報の共有を停止中", MyStatusState(client, Lang.JA).ui.location)

        assertEquals(SharingAction.StartLocationService, runBlocking { sharing.switchOn(LocationAccess.GRANTED) })
        assertEquals(true, sharing.ui.on)
        assertEquals("位置情報を共有中", sharing.ui.indicator)
        eventually("sharing on publishes the place") { published.publishedLocation.value == "京都府京都市北区" }
        client.close()
    }

    @Test fun `explain, ask, denied, asked again, denied for good, open Settings`() {
        val client = offlineClient()
        val sharing = SharingState(client, Lang.JA)
        assertEquals(SharingAction.Unchanged, runBlocking { sharing.switchOn(LocationAccess.NOT_ASKED) })
        val why = sharing.ui.prompt
        assertTrue("$why", why is SharingPrompt.Rationale && why.text.contains("正確な位置ではありません"))
        assertEquals("not on before access is granted", false, client.isSharingLocation())
        sharing.rationaleDeclined()
        assertEquals(SharingPrompt.None, sharing.ui.prompt)
        assertEquals(false, sharing.ui.on)

        runBlocking { sharing.switchOn(LocationAccess.NOT_ASKED) }
        assertEquals(SharingAction.AskPermissions(SharingPermissions.asked), sharing.rationaleAccepted())
        assertEquals(SharingAction.StopLocationService, runBlocking { sharing.answered(LocationAccess.DENIED) })
        assertEquals(
            SharingPrompt.Denied("位置情報の利用が許可されなかったため、共有はオフのままです。もう一度オンにすると再度確認します。"),
            sharing.ui.prompt,
        )
        assertEquals(false, client.isSharingLocation())

        runBlocking { sharing.switchOn(LocationAccess.DENIED) }
        assertTrue("explained again", sharing.ui.prompt is SharingPrompt.Rationale)
        sharing.rationaleAccepted()
        assertEquals(SharingAction.StopLocationService, runBlocking { sharing.answered(LocationAccess.DENIED_FOR_GOOD) })
        val forGood = sharing.ui.prompt as SharingPrompt.DeniedForGood
        assertEquals("設定を開く", forGood.button)
        assertEquals(SharingAction.OpenSettings, sharing.openSettings())
        assertEquals(false, client.isSharingLocation())
        // Switching on again without Settings goes straight to the button.
        assertEquals(SharingAction.Unchanged, runBlocking { sharing.switchOn(LocationAccess.DENIED_FOR_GOOD) })
        assertTrue(sharing.ui.prompt is SharingPrompt.DeniedForGood)
        // Allowed in Settings, back in the app: on.
        assertEquals(SharingAction.StartLocationService, runBlocking { sharing.switchOn(LocationAccess.GRANTED) })
        assertEquals(SharingPrompt.None, sharing.ui.prompt)
        assertEquals(true, client.isSharingLocation())
        client.close()
    }

    @Test fun `Android's answers read as access - rationale, asked before, approximate, notifications alone`() {
        assertEquals(LocationAccess.NOT_ASKED, LocationAccess.android(emptySet(), showRationale = false, askedBefore = false))
        assertEquals(LocationAccess.DENIED, LocationAccess.android(emptySet(), showRationale = true, askedBefore = true))
        assertEquals(LocationAccess.DENIED_FOR_GOOD, LocationAccess.android(emptySet(), showRationale = false, askedBefore = true))
        assertEquals(LocationAccess.GRANTED, LocationAccess.android(setOf(Permission.COARSE_LOCATION), false, true))
        assertEquals(LocationAccess.DENIED_FOR_GOOD, LocationAccess.android(setOf(Permission.NOTIFICATIONS), false, true))
    }

    @Test fun `after sharing is switched off, a status change publishes no location`() {
        val client = offlineClient()
        val published = ColleaguesState(Lang.JA)
        client.setListener(published)
        val sharing = SharingState(client, Lang.JA)
        val state = MyStatusState(client, Lang.JA)
        assertEquals(SharingAction.StartLocationService, runBlocking { sharing.switchOn(LocationAccess.GRANTED) })
        runBlocking { state.locationFix(35.0394, 135.7292, 8.0) }
        eventually("the place was published") { published.publishedLocation.value == "京都府京都市北区" }

        assertEquals(SharingAction.StopLocationService, runBlocking { sharing.switchOff() })
        assertEquals(false, sharing.ui.on)
        assertEquals("位置情報は共有していません", sharing.ui.indicator)
        eventually("a Publish without the place went at once") { published.outboxDepth.value == 3u }
        assertNull(published.publishedLocation.value)
        runBlocking { state.setActivity(ActivityToken.DRIVING, null) }
        eventually("the status change was queued") { published.outboxDepth.value == 4u }
        assertNull(published.publishedLocation.value)
        assertEquals("Location sharing paused", MyStatusState(client, Lang.EN).ui.location)

        assertEquals(SharingAction.StartLocationService, runBlocking { sharing.switchOn(LocationAccess.GRANTED) })
        eventually("sharing on publishes the place again") { published.publishedLocation.value == "京都府京都市北区" }
        client.close()
    }

    @Test fun `the shift and the end go to the core, kept while off, and the indicator follows`() {
        val client = offlineClient()
        val zone = TimeZone.getDefault()
        val sharing = SharingState(client, Lang.JA)
        // A shift that starts two hours from now: outside it, sharing pauses.
        val start = StatusTime.clockOf(now() + 2 * 3600, zone).let { ClockTime(it.hour, 0) }
        val end = ClockTime((start.hour + 1) % 24, 0)
        runBlocking { sharing.setWorkingHours("${start.hour}:00〜${end.hour}:00") }
        assertEquals("kept while off, written the core's way", "$start-$end", sharing.ui.workingHours)
        assertEquals(false, client.sharingSettings().on)

        runBlocking { sharing.switchOn(LocationAccess.GRANTED) }
        val core = client.sharingSettings()
        assertEquals("$start-$end", core.workingHours)
        assertEquals(true, sharing.ui.on)
        assertEquals(false, sharing.ui.sharingNow)
        assertEquals("勤務時間外のため一時停止中（$start-$end）", sharing.ui.indicator)
        assertEquals("it looks again when the shift starts", StatusTime.nextUnix(start, now(), zone), sharing.ui.nextChangeUnix)

        val until = StatusTime.clockOf(now() + 3600, zone)
        runBlocking { sharing.setUntil(until) }
        assertEquals("${until}まで", sharing.ui.until)
        assertEquals(StatusTime.nextUnix(until, now(), zone), client.sharingSettings().untilUnix)

        runBlocking { sharing.setWorkingHours("8時から") }
        assertEquals("勤務時間は 08:00-19:00 の形で入力してください。", sharing.ui.error)
        assertEquals("$start-$end", client.sharingSettings().workingHours)

        runBlocking { sharing.switchOff() }
        assertEquals("the shift stays for next time", "$start-$end", SharingState(client, Lang.JA).ui.workingHours)
        runBlocking { sharing.setWorkingHours("") }
        runBlocking { sharing.switchOn(LocationAccess.GRANTED) }
        assertNull("all day now", client.sharingSettings().workingHours)
        assertEquals(true, sharing.ui.sharingNow)
        client.close()
    }

    @Test fun `at start, sharing runs on with access and goes off quietly without it`() {
        val client = offlineClient()
        val sharing = SharingState(client, Lang.JA)
        assertEquals("off stays off", SharingAction.StopLocationService, runBlocking { sharing.resumed(LocationAccess.GRANTED) })
        runBlocking { sharing.switchOn(LocationAccess.GRANTED) }
        assertEquals(SharingAction.StartLocationService, runBlocking { SharingState(client, Lang.JA).resumed(LocationAccess.GRANTED) })
        assertEquals(true, client.isSharingLocation())
        val later = SharingState(client, Lang.JA)
        assertEquals(SharingAction.StopLocationService, runBlocking { later.resumed(LocationAccess.DENIED_FOR_GOOD) })
        assertEquals(false, client.isSharingLocation())
        assertEquals(false, later.updates.value.on)
        assertNull(later.ui.error)
        client.close()
    }
}
