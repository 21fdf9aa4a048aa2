// The location-sharing switch: what the shell is told to do, and what the
// core then publishes. The privacy promise: after "off", no Publish carries
// a place.
package org.mailpresence.ui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test
import org.mailpresence.protocol.ActivityToken

class SharingTest {
    @Test fun `after sharing is switched off, a status change publishes no location`() {
        val client = offlineClient()
        val published = ColleaguesState(Lang.JA)
        client.setListener(published)
        val state = MyStatusState(client, Lang.JA)
        assertEquals(SharingAction.StartLocationService, runBlocking { state.permissionsAnswered(setOf(Permission.FINE_LOCATION)) })
        runBlocking { state.locationFix(35.0394, 135.7292, 8.0) }
        eventually("the place was published") { published.publishedLocation.value == "京都府京都市北区" }

        assertEquals(SharingAction.StopLocationService, runBlocking { state.switchSharing(false) })
        assertEquals(false, state.ui.sharing)
        assertEquals("位置情報の共有を停止中", state.ui.location)
        eventually("a Publish without the place went at once") { published.outboxDepth.value == 2u }
        assertNull(published.publishedLocation.value)
        runBlocking { state.setActivity(ActivityToken.DRIVING, null) }
        eventually("the status change was queued") { published.outboxDepth.value == 3u }
        assertNull(published.publishedLocation.value)
        assertEquals("Location sharing paused", MyStatusState(client, Lang.EN).ui.location)

        assertEquals(SharingAction.AskPermissions(SharingPermissions.asked), runBlocking { state.switchSharing(true) })
        assertEquals("京都府京都市北区", state.ui.location)
        eventually("sharing on publishes the place again") { published.publishedLocation.value == "京都府京都市北区" }
        client.close()
    }

    @Test fun `notifications alone start no location service and turn sharing off`() {
        val client = offlineClient()
        val state = MyStatusState(client, Lang.JA)
        val ask = runBlocking { state.switchSharing(true) }
        assertEquals(SharingAction.AskPermissions(listOf(Permission.FINE_LOCATION, Permission.COARSE_LOCATION, Permission.NOTIFICATIONS)), ask)
        assertEquals(SharingAction.StopLocationService, runBlocking { state.permissionsAnswered(setOf(Permission.NOTIFICATIONS)) })
        assertEquals(false, state.ui.sharing)
        assertEquals(false, client.isSharingLocation())
        assertEquals("位置情報の利用が許可されていないため、位置情報の共有をオフにしました。", state.ui.error)
        client.close()
    }

    @Test fun `an approximate location is enough for the service`() {
        val state = MyStatusState(offlineClient(), Lang.EN)
        assertEquals(SharingAction.StartLocationService, runBlocking { state.permissionsAnswered(setOf(Permission.COARSE_LOCATION)) })
        assertEquals(true, state.ui.sharing)
        assertNull(state.ui.error)
    }

    @Test fun `with sharing off, granted permissions start nothing`() {
        val state = MyStatusState(offlineClient(), Lang.EN)
        runBlocking { state.switchSharing(false) }
        assertEquals(SharingAction.StopLocationService, runBlocking { state.permissionsAnswered(setOf(Permission.FINE_LOCATION)) })
        assertEquals(false, state.ui.sharing)
    }

    @Test fun `at start, sharing runs on with a granted permission and goes off quietly without one`() {
        val client = offlineClient()
        val state = MyStatusState(client, Lang.JA)
        assertEquals(SharingAction.StartLocationService, runBlocking { state.resumeSharing(setOf(Permission.FINE_LOCATION)) })
        assertEquals(true, client.isSharingLocation())
        assertEquals(SharingAction.StopLocationService, runBlocking { state.resumeSharing(emptySet()) })
        assertEquals(false, client.isSharingLocation())
        assertEquals(false, state.updates.value.sharing)
        assertNull(state.ui.error)
        client.close()
    }
}
