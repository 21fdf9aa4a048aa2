// Sharing after the phone restarted, before anyone opened the app, against
// the real core: resumed only if the worker had it on and may still share a
// place, and never with an address the worker no longer allows.
package org.mailpresence.ui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Test
import org.mailpresence.PresenceClient

class SharingRestartTest {
    private fun client(sharing: Boolean): PresenceClient = offlineClient().also {
        runBlocking { it.setLocationSharing(if (sharing) null else System.currentTimeMillis() / 1000, null, false) }
    }

    @Test fun `with sharing on and location allowed, the service starts where Android lets it, else the worker is asked to open the app`() {
        val c = client(sharing = true)
        assertEquals(RestartStep.START_LOCATION_SERVICE, runBlocking { SharingRestart.decide(c, setOf(Permission.FINE_LOCATION), mayStartInBackground = true) })
        assertEquals(RestartStep.ASK_TO_OPEN, runBlocking { SharingRestart.decide(c, setOf(Permission.COARSE_LOCATION), mayStartInBackground = false) })
        assertEquals(true, c.isSharingLocation())
        assertEquals("位置情報の共有は一時停止中です" to "タップしてアプリを開くと、共有を再開します。", SharingRestart.pausedNotice(Lang.JA))
        assertEquals("Location sharing is paused", SharingRestart.pausedNotice(Lang.EN).first)
        c.close()
    }

    @Test fun `sharing that was off stays off, and no account means nothing to do`() {
        val c = client(sharing = false)
        assertEquals(RestartStep.NOTHING, runBlocking { SharingRestart.decide(c, setOf(Permission.FINE_LOCATION), mayStartInBackground = true) })
        assertEquals(false, c.isSharingLocation())
        assertEquals(RestartStep.NOTHING, runBlocking { SharingRestart.decide(null, setOf(Permission.FINE_LOCATION), mayStartInBackground = true) })
        c.close()
    }

    @Test fun `location access taken away meanwhile turns sharing off in the core, so the last place stops going out`() {
        val c = client(sharing = true)
        val heard = ColleaguesState(Lang.JA)
        c.setListener(heard)
        runBlocking { c.locationFix(35.0394, 135.7292, 8.0, null) }
        eventually("the place was published") { heard.publishedLocation.value == "京都府京都市北区" }
        assertEquals(RestartStep.NOTHING, runBlocking { SharingRestart.decide(c, setOf(Permission.NOTIFICATIONS), mayStartInBackground = true) })
        assertEquals(false, c.isSharingLocation())
        eventually("a Publish without the place went at once") { heard.publishedLocation.value == null }
        c.close()
    }
}
