// The Colleagues list and status line, fed by the core's listener.
package org.mailpresence.ui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test
import org.mailpresence.ColleaguePresence
import org.mailpresence.ConnectionStatus
import org.mailpresence.PresenceException
import org.mailpresence.protocol.ActivityToken

class ColleaguesStateTest {
    @Test fun `colleagues arrive from the listener on a background thread`() {
        val now = yamadaInAMeeting("ja").updatedUnix!! + 60
        val state = ColleaguesState(Lang.JA) { now }
        val worker = Thread { state.onColleague(ColleaguePresence(yamadaInAMeeting("ja"), now)) }
        worker.start(); worker.join()
        assertEquals(listOf("会議中（部長会議） · 13:00-15:00 部長会議 · 1分前"), state.rows().map { it.text })
        assertEquals(false, state.rows().single().stale)
        val later = ColleaguesState(Lang.EN) { now + 3 * 3600 }
        later.onColleague(ColleaguePresence(yamadaInAMeeting("en"), now))
        assertEquals(true, later.rows().single().stale)
        state.onConnection(ConnectionStatus.Failed(PresenceException.WrongPassword("535")))
        assertEquals("メールサーバーにログインできません。ユーザー名とパスワードを確認してください。", state.connection.value)
        state.onConnection(ConnectionStatus.Connected)
        assertNull(state.connection.value)
    }

    @Test fun `the core's events each carry what they know, published places and the outbox apart`() {
        val client = offlineClient()
        val state = ColleaguesState(Lang.JA)
        client.setListener(state)
        runBlocking { client.setStatus(ActivityToken.ON_SITE, null) }
        eventually("the outbox holds the Publish") { state.outboxDepth.value == 1u }
        // Sharing is off until the worker turns it on (a Publish of its own).
        runBlocking { client.setLocationSharing(null, null, false) }
        eventually("the outbox holds both") { state.outboxDepth.value == 2u }
        assertNull(state.publishedLocation.value)
        runBlocking { client.locationFix(35.0394, 135.7292, 8.0, null) }
        eventually("the place was published") { state.publishedLocation.value == "京都府京都市北区" }
        eventually("the outbox holds all three") { state.outboxDepth.value == 3u }
        client.close()
    }
}
